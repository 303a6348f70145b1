using System.Security.Cryptography;
using GuestAgent.Client.Files;
using GuestAgent.Protocol;
using GuestAgent.Protocol.Chunking;
using GuestAgent.Testing;
using GuestAgent.Zaqar;

namespace GuestAgent.Client.Tests;

/// <summary>
/// PutFileAsync / GetFileAsync against the fake agent's file side (<see cref="FakeFiles"/>), which
/// answers file.put and file.get the way docs/protocol.md specifies, over a real Zaqar.
/// </summary>
public sealed class FileTransferTests : IAsyncLifetime
{
    private static readonly GuestClientOptions FastOptions = new()
    {
        DefaultCallTimeout = TimeSpan.FromSeconds(30),
        MinPollInterval = TimeSpan.FromMilliseconds(20),
        MaxPollInterval = TimeSpan.FromMilliseconds(200),
        MaxErrorBackoff = TimeSpan.FromSeconds(2),
    };

    private readonly ZaqarBed _bed = ZaqarBed.Shared;
    private readonly string _project = ZaqarBed.NewProject("ft");
    private readonly string _commandQueue = ZaqarBed.NewQueue("cmd");
    private readonly string _replyQueue = ZaqarBed.NewQueue("rep");
    private readonly CancellationTokenSource _stop = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "guestagent-ft-" + Guid.NewGuid().ToString("N")[..12]);
    private ZaqarClient _controllerZaqar = null!;
    private FakeAgent _agent = null!;
    private GuestClient _client = null!;
    private Task _served = Task.CompletedTask;

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _controllerZaqar = _bed.Client(_project);
        _agent = new FakeAgent(_bed.Client(_project), _commandQueue);
        _client = new GuestClient(_controllerZaqar, _commandQueue, _replyQueue, FastOptions);
        _served = _agent.ServeFilesAsync(_stop.Token);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _client.DisposeAsync();
        // Surfaces an assertion that failed inside the fake (e.g. a command the agent would reject).
        await _served;
        Directory.Delete(_dir, recursive: true);
    }

    private FakeFiles Guest => _agent.Files;

    [Theory]
    [InlineData(0, 4096)]          // empty: one chunk with no data
    [InlineData(100, 4096)]        // smaller than a chunk
    [InlineData(4096, 4096)]       // exactly one chunk
    [InlineData(4096 * 5 + 17, 4096)] // several chunks and a short last one
    [InlineData(4096 * 6, 4096)]   // several chunks, the last full
    public async Task Put_writes_the_exact_bytes_in_the_expected_chunks(int size, int chunkBytes)
    {
        var data = RandomNumberGenerator.GetBytes(size);

        var outcome = await _client.PutFileAsync(new MemoryStream(data), "/srv/app/data.bin", new FilePutOptions { ChunkBytes = chunkBytes });

        var expectedChunks = Math.Max(1, (size + chunkBytes - 1) / chunkBytes);
        Assert.Equal(data, Guest.Content["/srv/app/data.bin"]);
        Assert.Equal(size, outcome.Bytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), outcome.Sha256);
        Assert.Equal(expectedChunks, outcome.ChunkCount);
        Assert.Equal(expectedChunks, outcome.ChunksSent);
        Assert.Equal(0, outcome.ChunksSkipped);
        Assert.False(outcome.Resumed);
        var puts = Guest.Puts;
        Assert.Equal(Enumerable.Range(0, expectedChunks), puts.Select(p => p.Index).Order());
        Assert.All(puts, p =>
        {
            Assert.Equal(outcome.TransferId, p.TransferId);
            Assert.Equal(size, p.Size);
            Assert.Equal(expectedChunks, p.Count);
            Assert.Equal(chunkBytes, p.ChunkBytes);
            Assert.False(p.Overwrite);
        });
        Assert.Equal(data, puts.OrderBy(p => p.Index).SelectMany(p => p.DecodeData()).ToArray());
    }

    [Fact]
    public async Task Put_at_the_default_chunk_size_fits_each_chunk_in_one_zaqar_message_and_sends_the_file_attributes()
    {
        var data = RandomNumberGenerator.GetBytes(ProtocolLimits.MaxChunkDataBytes() * 2 + 1000);
        // A long path and names, to use up as much of the message as a chunk can.
        var path = "/srv/" + new string('p', 1000);
        Guest.Content[path] = [1, 2, 3];

        var outcome = await _client.PutFileAsync(new MemoryStream(data), path,
            new FilePutOptions { Mode = "0640", Owner = new string('o', 32), Group = new string('g', 32), Overwrite = true });

        Assert.Equal(data, Guest.Content[path]);
        Assert.Equal(3, outcome.ChunkCount);
        Assert.All(Guest.Puts, p =>
        {
            Assert.Equal(ProtocolLimits.MaxChunkDataBytes(), p.ChunkBytes);
            Assert.Equal("0640", p.Mode);
            Assert.Equal(new string('o', 32), p.Owner);
            Assert.Equal(new string('g', 32), p.Group);
            Assert.True(p.Overwrite);
        });
    }

    [Fact]
    public async Task A_put_polls_for_its_chunks_replies_quickly_however_slowly_the_client_polls_otherwise()
    {
        // Between calls this client polls its reply queue every 3 s; one chunk at a time, each
        // chunk's reply would wait for that poll: 8 chunks, about 20 s.
        await using var slow = new GuestClient(_bed.Client(_project), _commandQueue, ZaqarBed.NewQueue("rep"), FastOptions with
        {
            MinPollInterval = TimeSpan.FromSeconds(3),
            MaxPollInterval = TimeSpan.FromSeconds(3),
            TransferPollInterval = TimeSpan.FromMilliseconds(20),
        });
        var data = RandomNumberGenerator.GetBytes(8 * 1024);
        var started = DateTimeOffset.UtcNow;

        var outcome = await slow.PutFileAsync(new MemoryStream(data), "/srv/quick.bin", new FilePutOptions { ChunkBytes = 1024, Window = 1 });

        var took = DateTimeOffset.UtcNow - started;
        Assert.Equal(data, Guest.Content["/srv/quick.bin"]);
        Assert.Equal(8, outcome.ChunkCount);
        Assert.True(took < TimeSpan.FromSeconds(8), $"the put took {took.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task Put_from_a_local_file_path_sends_that_file()
    {
        var local = Path.Combine(_dir, "local.bin");
        var data = RandomNumberGenerator.GetBytes(10_000);
        await File.WriteAllBytesAsync(local, data);

        var outcome = await _client.PutFileAsync(local, "/srv/local.bin", new FilePutOptions { ChunkBytes = 3000 });

        Assert.Equal(data, Guest.Content["/srv/local.bin"]);
        Assert.Equal(4, outcome.ChunkCount);
    }

    [Fact]
    public async Task Resumed_put_probes_once_then_sends_only_the_chunks_the_agent_is_missing()
    {
        var data = RandomNumberGenerator.GetBytes(8 * 1000 - 300);
        var transfer = Guid.NewGuid();
        // First attempt: chunks go one at a time and chunk 4 fails, so the agent keeps 0..3.
        Guest.PutFault = (a, seen) => a.Index == 4 && seen == 0 ? PutFault.Fail("disk_full") : null;
        var first = await Assert.ThrowsAsync<FileTransferException>(() => _client.PutFileAsync(new MemoryStream(data), "/srv/r.bin",
            new FilePutOptions { ChunkBytes = 1000, Window = 1, TransferId = transfer }));
        Assert.Equal("disk_full", first.Code);
        var heldBefore = Guest.Held(transfer);
        Assert.Equal([0, 1, 2, 3, 7], heldBefore.Order()); // 7 is the probe of that first (resumed) call
        Guest.ClearLog();
        Guest.PutFault = null;

        var outcome = await _client.PutFileAsync(new MemoryStream(data), "/srv/r.bin",
            new FilePutOptions { ChunkBytes = 1000, Window = 4, TransferId = transfer });

        Assert.Equal(data, Guest.Content["/srv/r.bin"]);
        var sent = Guest.Puts.Select(p => p.Index).ToList();
        Assert.Equal(7, sent[0]); // the probe: the last, smallest chunk
        Assert.Equal([4, 5, 6], sent.Skip(1).Order());
        Assert.Empty(sent.Skip(1).Intersect(heldBefore));
        Assert.True(outcome.Resumed);
        Assert.Equal(transfer, outcome.TransferId);
        Assert.Equal(4, outcome.ChunksSent);
        Assert.Equal(4, outcome.ChunksSkipped);
        Assert.Equal(700 + 3 * 1000, outcome.BytesSent);
    }

    [Fact]
    public async Task Resumed_put_follows_a_paged_missing_list_and_sends_each_chunk_at_most_once_apart_from_the_probe()
    {
        Guest.MissingListed = 3; // as the agent's 1,000, on a small file
        var data = RandomNumberGenerator.GetBytes(20 * 500);
        var progress = new Recorder();

        var outcome = await _client.PutFileAsync(new MemoryStream(data), "/srv/paged.bin",
            new FilePutOptions { ChunkBytes = 500, Window = 2, TransferId = Guid.NewGuid(), Progress = progress });

        Assert.Equal(data, Guest.Content["/srv/paged.bin"]);
        var sent = Guest.Puts.Select(p => p.Index).ToList();
        Assert.Equal(19, sent[0]);
        Assert.Equal(Enumerable.Range(0, 19), sent.Skip(1).Order());
        Assert.Equal(20, outcome.ChunksSent);
        Assert.Equal(0, outcome.ChunksSkipped);
        Assert.True(outcome.Commands >= 20); // more only if Zaqar dropped a post
        AssertMonotonicEndingAtTotal(progress.Reports, data.Length, 20);
    }

    [Fact]
    public async Task Interrupted_chunk_is_sent_again_and_the_transfer_completes()
    {
        var data = RandomNumberGenerator.GetBytes(5000);
        Guest.PutFault = (a, seen) => a.Index == 2 && seen == 0 ? PutFault.Interrupt : null;

        var outcome = await _client.PutFileAsync(new MemoryStream(data), "/srv/i.bin", new FilePutOptions { ChunkBytes = 1000 });

        Assert.Equal(data, Guest.Content["/srv/i.bin"]);
        Assert.Equal(2, Guest.Puts.Count(p => p.Index == 2));
        Assert.All(Guest.Puts.Where(p => p.Index != 2), p => Assert.Equal(1, Guest.Puts.Count(q => q.Index == p.Index)));
        // What the client says it did (a post Zaqar dropped would add a retry the agent never saw).
        Assert.True(outcome.Retries >= 1);
        Assert.True(outcome.Commands >= 6);
        Assert.Equal(5, outcome.ChunksSent);
    }

    [Fact]
    public async Task Unanswered_chunk_is_sent_again_after_its_timeout()
    {
        var data = RandomNumberGenerator.GetBytes(3000);
        Guest.PutFault = (a, seen) => a.Index == 1 && seen == 0 ? PutFault.NoReply : null;

        var outcome = await _client.PutFileAsync(new MemoryStream(data), "/srv/t.bin",
            new FilePutOptions { ChunkBytes = 1000, ChunkTimeout = TimeSpan.FromSeconds(2) });

        Assert.Equal(data, Guest.Content["/srv/t.bin"]);
        Assert.Equal(2, Guest.Puts.Count(p => p.Index == 1));
        Assert.True(outcome.Retries >= 1);
    }

    [Fact]
    public async Task Chunk_that_keeps_being_interrupted_gives_up_after_max_attempts()
    {
        Guest.PutFault = (a, _) => a.Index == 0 ? PutFault.Interrupt : null;

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.PutFileAsync(new MemoryStream(new byte[10]), "/srv/x",
            new FilePutOptions { MaxAttempts = 3 }));

        Assert.Equal(FileTransferErrors.Interrupted, error.Code);
        Assert.Equal(0, error.ChunkIndex);
        Assert.Equal(3, Guest.Puts.Count);
    }

    [Fact]
    public async Task Failed_chunk_throws_with_the_agents_code_and_nothing_more_is_sent()
    {
        Guest.Content["/srv/exists.txt"] = [1];
        var data = RandomNumberGenerator.GetBytes(10_000);

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.PutFileAsync(new MemoryStream(data), "/srv/exists.txt",
            new FilePutOptions { ChunkBytes = 1000, Window = 1 }));

        Assert.Equal(FileErrorCodes.Exists, error.Code);
        Assert.Equal(ReplyStatus.Failed, error.Status);
        Assert.Equal("/srv/exists.txt", error.GuestPath);
        Assert.Contains("exists", error.Message);
        Assert.Contains("/srv/exists.txt", error.Message);
        Assert.Equal([1], Guest.Content["/srv/exists.txt"]);
        Assert.Single(Guest.Puts);
    }

    [Fact]
    public async Task Failure_mid_transfer_stops_the_window()
    {
        var data = RandomNumberGenerator.GetBytes(40 * 100);
        Guest.PutFault = (a, _) => a.Index == 5 ? PutFault.Fail(FileErrorCodes.ForbiddenPath) : null;

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.PutFileAsync(new MemoryStream(data), "/etc/passwd",
            new FilePutOptions { ChunkBytes = 100, Window = 2 }));

        Assert.Equal(FileErrorCodes.ForbiddenPath, error.Code);
        Assert.Equal(5, error.ChunkIndex);
        // At most the other chunk in flight and the ones taken meanwhile follow; far from all 40.
        await Task.Delay(500);
        Assert.InRange(Guest.Puts.Count, 6, 9);
        Assert.False(Guest.Content.ContainsKey("/etc/passwd"));
    }

    [Fact]
    public async Task Wrong_sha256_given_by_the_caller_ends_in_the_agents_checksum_mismatch()
    {
        var data = RandomNumberGenerator.GetBytes(2500);

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.PutFileAsync(new MemoryStream(data), "/srv/c.bin",
            new FilePutOptions { ChunkBytes = 1000, Sha256 = new string('a', 64) }));

        Assert.Equal(FileErrorCodes.ChecksumMismatch, error.Code);
        Assert.True(error.IsVerificationFailure);
        Assert.False(Guest.Content.ContainsKey("/srv/c.bin"));
    }

    [Fact]
    public async Task Rejected_put_says_the_agent_does_not_allow_it()
    {
        Guest.RejectPut = true;

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.PutFileAsync(new MemoryStream(new byte[5]), "/srv/x"));

        Assert.True(error.Rejected);
        Assert.Equal(RejectCodes.Forbidden, error.Code);
        Assert.Contains("capabilities", error.Message);
    }

    [Fact]
    public async Task Put_progress_is_monotonic_and_ends_at_the_total()
    {
        var data = RandomNumberGenerator.GetBytes(12 * 1000 + 1);
        var progress = new Recorder();

        await _client.PutFileAsync(new MemoryStream(data), "/srv/p.bin", new FilePutOptions { ChunkBytes = 1000, Window = 3, Progress = progress });

        AssertMonotonicEndingAtTotal(progress.Reports, data.Length, 13);
        Assert.Equal(0, progress.Reports[0].BytesDone);
        Assert.All(progress.Reports, r => Assert.Equal(data.Length, r.TotalBytes));
    }

    [Fact]
    public void Bad_arguments_are_refused_before_anything_is_sent()
    {
        var s = new MemoryStream(new byte[3]);
        Assert.Throws<ArgumentException>(() => _client.PutFileAsync(s, "relative/path").GetAwaiter().GetResult());
        Assert.Throws<ArgumentException>(() => _client.PutFileAsync(s, "/x", new FilePutOptions { Mode = "0999" }).GetAwaiter().GetResult());
        Assert.Throws<ArgumentException>(() => _client.PutFileAsync(s, "/x", new FilePutOptions { Owner = "a b" }).GetAwaiter().GetResult());
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            _client.PutFileAsync(s, "/x", new FilePutOptions { ChunkBytes = ProtocolLimits.MaxChunkDataBytes() + 1 }).GetAwaiter().GetResult());
        Assert.Throws<ArgumentOutOfRangeException>(() => _client.PutFileAsync(s, "/x", new FilePutOptions { Window = 0 }).GetAwaiter().GetResult());
        Assert.Throws<ArgumentException>(() => _client.GetFileAsync("x", new MemoryStream()).GetAwaiter().GetResult());
        Assert.Empty(Guest.Puts);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(50)]       // inline only
    [InlineData(100)]      // exactly the inline cap
    [InlineData(5_432)]    // inline part and chunks
    public async Task Get_returns_the_exact_bytes_and_checks_them(int size)
    {
        var data = RandomNumberGenerator.GetBytes(size);
        Guest.Content["/var/log/app.log"] = data;
        var destination = new MemoryStream();

        var outcome = await _client.GetFileAsync("/var/log/app.log", destination);

        Assert.Equal(data, destination.ToArray());
        Assert.Equal(size, outcome.Size);
        Assert.Equal(0, outcome.Offset);
        Assert.Equal(size, outcome.BytesReceived);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), outcome.Sha256);
        Assert.Equal("0644", outcome.Mode);
        Assert.Equal(size <= 100 ? 0 : (size - 100 + 999) / 1000, outcome.Chunks);
    }

    [Fact]
    public async Task Get_detects_a_corrupted_chunk_and_writes_nothing()
    {
        Guest.Content["/data"] = RandomNumberGenerator.GetBytes(3000);
        Guest.MutateGetChunk = ch =>
        {
            if (ch.Index != 1)
            {
                return ch;
            }
            var bad = ch.Data.ToArray();
            bad[10] ^= 0x01;
            return ch with { Data = bad };
        };
        var destination = new MemoryStream();

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.GetFileAsync("/data", destination));

        Assert.Equal(FileTransferErrors.VerificationFailed, error.Code);
        Assert.True(error.IsVerificationFailure);
        var output = Assert.IsType<GuestOutputException>(error.InnerException);
        Assert.Equal(ChunkErrorKind.HashMismatch, output.Error.Kind);
        Assert.Equal(ChunkStreams.File, output.Stream);
        Assert.Contains("file.get", output.Message);
        Assert.Equal(0, destination.Length);
    }

    [Fact]
    public async Task Get_detects_a_whole_file_sha256_that_does_not_match_the_bytes()
    {
        Guest.Content["/data"] = RandomNumberGenerator.GetBytes(1500);
        Guest.MutateGetResult = r => r with { Sha256 = new string('0', 64) };
        var destination = new MemoryStream();

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.GetFileAsync("/data", destination));

        Assert.Equal(FileTransferErrors.VerificationFailed, error.Code);
        Assert.Equal(0, destination.Length);
    }

    [Fact]
    public async Task Get_of_a_missing_file_throws_with_the_agents_code()
    {
        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.GetFileAsync("/nope", new MemoryStream()));

        Assert.Equal(FileErrorCodes.NotFound, error.Code);
        Assert.Equal(ReplyStatus.Failed, error.Status);
        Assert.Contains("/nope", error.Message);
    }

    [Fact]
    public async Task Get_to_a_local_path_goes_through_part_and_leaves_only_the_file()
    {
        var data = RandomNumberGenerator.GetBytes(4321);
        Guest.Content["/srv/f"] = data;
        var local = Path.Combine(_dir, "f");

        var outcome = await _client.GetFileAsync("/srv/f", local);

        Assert.Equal(data, await File.ReadAllBytesAsync(local));
        Assert.False(File.Exists(local + ".part"));
        Assert.Equal(Path.GetFullPath(local), outcome.LocalPath);

        // Again without overwrite: refused before anything is asked of the agent.
        Guest.ClearLog();
        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.GetFileAsync("/srv/f", local));
        Assert.Equal(FileErrorCodes.Exists, error.Code);
        Assert.Empty(Guest.Gets);
    }

    [Fact]
    public async Task Failed_get_to_a_local_path_leaves_no_part_file_and_no_file()
    {
        Guest.Content["/srv/bad"] = RandomNumberGenerator.GetBytes(2500);
        Guest.MutateGetResult = r => r with { Sha256 = new string('0', 64) };
        var local = Path.Combine(_dir, "bad");

        var error = await Assert.ThrowsAsync<FileTransferException>(() => _client.GetFileAsync("/srv/bad", local));

        Assert.Equal(FileTransferErrors.VerificationFailed, error.Code);
        Assert.False(File.Exists(local));
        Assert.False(File.Exists(local + ".part"));
    }

    [Fact]
    public async Task Get_resumes_from_a_part_file_at_its_length_and_checks_the_whole_file()
    {
        var data = RandomNumberGenerator.GetBytes(6000);
        Guest.Content["/srv/big"] = data;
        var local = Path.Combine(_dir, "big");
        await File.WriteAllBytesAsync(local + ".part", data[..2500]);
        var progress = new Recorder();

        var outcome = await _client.GetFileAsync("/srv/big", local, new FileGetOptions { Resume = true, Progress = progress });

        Assert.Equal(data, await File.ReadAllBytesAsync(local));
        Assert.False(File.Exists(local + ".part"));
        Assert.Equal(2500, Assert.Single(Guest.Gets).Offset);
        Assert.Equal(2500, outcome.Offset);
        Assert.Equal(3500, outcome.BytesReceived);
        Assert.False(outcome.Restarted);
        Assert.Equal(2500, progress.Reports[0].BytesDone);
        AssertMonotonicEndingAtTotal(progress.Reports, data.Length, outcome.Chunks);
    }

    [Fact]
    public async Task Get_resume_from_a_part_file_of_another_version_of_the_file_starts_over()
    {
        var data = RandomNumberGenerator.GetBytes(3000);
        Guest.Content["/srv/changed"] = data;
        var local = Path.Combine(_dir, "changed");
        var stale = data[..1200];
        stale[7] ^= 0xFF; // the file changed since the earlier read
        await File.WriteAllBytesAsync(local + ".part", stale);

        var outcome = await _client.GetFileAsync("/srv/changed", local, new FileGetOptions { Resume = true });

        Assert.Equal(data, await File.ReadAllBytesAsync(local));
        Assert.Equal([1200L, 0L], Guest.Gets.Select(g => g.Offset));
        Assert.True(outcome.Restarted);
        Assert.Equal(0, outcome.Offset);
    }

    [Fact]
    public async Task Get_resume_into_a_stream_without_a_local_path_reports_the_mismatch()
    {
        var data = RandomNumberGenerator.GetBytes(3000);
        Guest.Content["/srv/s"] = data;
        var destination = new MemoryStream();
        destination.Write(RandomNumberGenerator.GetBytes(1000));

        var error = await Assert.ThrowsAsync<FileTransferException>(() =>
            _client.GetFileAsync("/srv/s", destination, new FileGetOptions { Resume = true }));

        Assert.Equal(FileTransferErrors.ResumeMismatch, error.Code);
        Assert.Equal(1000, destination.Length);
    }

    [Fact]
    public async Task Get_progress_is_monotonic_and_ends_at_the_total()
    {
        var data = RandomNumberGenerator.GetBytes(9_950);
        Guest.Content["/srv/p"] = data;
        var progress = new Recorder();

        var outcome = await _client.GetFileAsync("/srv/p", new MemoryStream(), new FileGetOptions { Progress = progress });

        AssertMonotonicEndingAtTotal(progress.Reports, data.Length, outcome.Chunks);
        Assert.Equal(10, outcome.Chunks);
        // Chunks were reported as they came, not only at the end.
        Assert.True(progress.Reports.Count(r => r.BytesDone > 0 && r.BytesDone < data.Length) >= 5,
            string.Join(", ", progress.Reports.Select(r => r.BytesDone)));
    }

    [Fact]
    public void Deterministic_transfer_ids_are_name_based_uuids_of_queue_path_hash_and_size()
    {
        var sha = new string('a', 64);
        var id = FileTransferIds.ForPut("cmd-vm1", "/srv/a", sha, 10);

        Assert.Equal(id, FileTransferIds.ForPut("cmd-vm1", "/srv/a", sha.ToUpperInvariant(), 10));
        Assert.NotEqual(id, FileTransferIds.ForPut("cmd-vm2", "/srv/a", sha, 10));
        Assert.NotEqual(id, FileTransferIds.ForPut("cmd-vm1", "/srv/b", sha, 10));
        Assert.NotEqual(id, FileTransferIds.ForPut("cmd-vm1", "/srv/a", new string('b', 64), 10));
        Assert.NotEqual(id, FileTransferIds.ForPut("cmd-vm1", "/srv/a", sha, 11));
        Assert.Equal(5, id.Version);
        Assert.Equal(0b10, id.Variant >> 2);
        // RFC 9562's own example: the DNS namespace and "www.example.com".
        Assert.Equal(new Guid("2ed6657d-e927-568b-95e1-2665a8aea6a2"),
            FileTransferIds.NameBased(new Guid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "www.example.com"));
    }

    [Fact]
    public async Task Put_with_a_deterministic_id_run_twice_after_an_interruption_sends_only_the_rest()
    {
        var data = RandomNumberGenerator.GetBytes(6 * 700);
        var sha = Convert.ToHexStringLower(SHA256.HashData(data));
        var id = FileTransferIds.ForPut(_commandQueue, "/srv/d", sha, data.Length);
        using var cts = new CancellationTokenSource();
        // The "interruption": the controller is stopped once chunk 2 is answered.
        var progress = new Recorder(r => { if (r.ChunksDone >= 3) cts.Cancel(); });
        var options = new FilePutOptions { ChunkBytes = 700, Window = 1, TransferId = id, Sha256 = sha };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            _client.PutFileAsync(new MemoryStream(data), "/srv/d", options with { Progress = progress }, cts.Token));
        var held = Guest.Held(id);
        Guest.ClearLog();
        var outcome = await _client.PutFileAsync(new MemoryStream(data), "/srv/d", options);

        Assert.Equal(data, Guest.Content["/srv/d"]);
        Assert.Empty(Guest.Puts.Skip(1).Select(p => p.Index).Intersect(held));
        Assert.Equal(held.Count, outcome.ChunksSkipped + (held.Contains(5) ? 1 : 0));
    }

    private static void AssertMonotonicEndingAtTotal(IReadOnlyList<FileTransferProgress> reports, long total, int chunks)
    {
        Assert.NotEmpty(reports);
        for (var i = 1; i < reports.Count; i++)
        {
            Assert.True(reports[i].BytesDone >= reports[i - 1].BytesDone,
                $"bytes went back from {reports[i - 1].BytesDone} to {reports[i].BytesDone} at report {i}");
            Assert.True(reports[i].ChunksDone >= reports[i - 1].ChunksDone,
                $"chunks went back from {reports[i - 1].ChunksDone} to {reports[i].ChunksDone} at report {i}");
            Assert.True(reports[i].Elapsed >= reports[i - 1].Elapsed);
        }
        Assert.All(reports, r => Assert.InRange(r.BytesDone, 0, total));
        var last = reports[^1];
        Assert.Equal(total, last.BytesDone);
        Assert.Equal(total, last.TotalBytes);
        Assert.True(last.TotalKnown);
        Assert.Equal(chunks, last.ChunksDone);
        Assert.Equal(chunks, last.TotalChunks);
        Assert.Equal(1, last.Fraction);
    }

    /// <summary>Keeps every report, synchronously (Progress&lt;T&gt; would post them out of order).</summary>
    private sealed class Recorder(Action<FileTransferProgress>? also = null) : IProgress<FileTransferProgress>
    {
        private readonly List<FileTransferProgress> _reports = [];

        public IReadOnlyList<FileTransferProgress> Reports
        {
            get
            {
                lock (_reports)
                {
                    return _reports.ToList();
                }
            }
        }

        public void Report(FileTransferProgress value)
        {
            lock (_reports)
            {
                _reports.Add(value);
            }
            also?.Invoke(value);
        }
    }
}
