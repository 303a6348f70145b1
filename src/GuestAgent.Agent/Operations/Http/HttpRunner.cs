using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Operations.Exec;
using GuestAgent.Agent.Platform;
using GuestAgent.Protocol;

using GuestAgent.Blocks;

namespace GuestAgent.Agent.Operations.Http;

/// <summary>How the agent runs one attempt of an <c>http</c> command (everything not in the command's own args).</summary>
public sealed record HttpOptions
{
    /// <summary>The command being run; names the spool file.</summary>
    public required Guid CommandId { get; init; }

    public int Attempt { get; init; } = 1;

    /// <summary>Directory where the whole response body is written; created when missing.</summary>
    public required string SpoolDirectory { get; init; }

    /// <summary>The guest's file system, which creates the spool file for the agent's eyes only.</summary>
    public required IFileSystem Files { get; init; }

    /// <summary>Bytes of the body kept inline; also the most a command's <c>output_cap_bytes</c> may ask for.</summary>
    public int DefaultInlineCapBytes { get; init; } = ExecOptions.DefaultInlineCap;

    /// <summary>Destinations this tenant may reach; every hop's host and port must be one of them.</summary>
    public IReadOnlyList<HttpDestination> AllowList { get; init; } = [];

    /// <summary>Clock for the timeout and the reported duration.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

public enum HttpOutcomeKind
{
    /// <summary>A response came (any status) and its body was read to the end.</summary>
    Completed,

    /// <summary>A hop's destination is not in the allow-list; nothing was sent to it.</summary>
    Forbidden,

    /// <summary>Connection, TLS, protocol or redirect error.</summary>
    Failed,

    TimedOut,
    Cancelled,
}

/// <summary>What happened to one run of an <c>http</c> command.</summary>
public sealed record HttpOutcome(
    HttpOutcomeKind Kind,
    int Attempt,
    TimeSpan Duration,
    string? Error = null,
    int Status = 0,
    string? Reason = null,
    IReadOnlyDictionary<string, string>? Headers = null,
    CapturedStream? Body = null,
    string? FinalUrl = null,
    int Redirects = 0)
{
    /// <summary>The protocol result of a completed run; <paramref name="bodyChunks"/> is the number of chunk replies of the body.</summary>
    public HttpResult ToResult(int bodyChunks) =>
        Kind == HttpOutcomeKind.Completed
            ? new HttpResult(Status, Headers ?? new Dictionary<string, string>(), Body!.ToStreamOutput(bodyChunks), FinalUrl!, Redirects,
                (long)Duration.TotalMilliseconds, Reason, Attempt)
            : throw new InvalidOperationException($"The request did not complete ({Kind}: {Error}); there is no http result.");
}

/// <summary>
/// Sends the request of an <c>http</c> command through <see cref="HttpHops"/>, which follows
/// redirects by hand so that every hop's destination is checked against the allow-list before
/// anything is sent to it. The body is streamed to a spool file; the first cap bytes are kept in memory and the
/// whole is hashed on the way, as for exec output.
/// </summary>
public static class HttpRunner
{
    public static async Task<HttpOutcome> RunAsync(HttpArgs args, HttpOptions options, CancellationToken cancel)
    {
        var clock = options.TimeProvider;
        var started = clock.GetTimestamp();
        var attempt = options.Attempt;
        HttpOutcome End(HttpOutcomeKind kind, string error, int redirects = 0) =>
            new(kind, attempt, clock.GetElapsedTime(started), error, Redirects: redirects);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(args.TimeoutSeconds), clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, timeout.Token);
        var token = linked.Token;
        using var client = HttpHops.CreateClient();

        var body = args.DecodeBody();
        var request = new HopRequest(new HttpMethod(args.Method), new Uri(args.Url, UriKind.Absolute), args.Headers,
            body is null ? null : () => new ByteArrayContent(body),
            args.FollowRedirects ? RedirectPolicy.All : RedirectPolicy.None);
        var redirects = 0;
        string? spoolPath = null;
        try
        {
            using var sent = await HttpHops.SendAsync(client, request, options.AllowList, token).ConfigureAwait(false);
            redirects = sent.Redirects;
            if (sent.Response is not { } response)
            {
                return End(sent.Refusal == HopRefusal.ForbiddenDestination ? HttpOutcomeKind.Forbidden : HttpOutcomeKind.Failed,
                    sent.Error!, redirects);
            }

            Directory.CreateDirectory(options.SpoolDirectory);
            spoolPath = Path.Combine(options.SpoolDirectory, $"{options.CommandId:N}-{attempt}.body");
            var cap = Math.Min(args.OutputCapBytes ?? options.DefaultInlineCapBytes, options.DefaultInlineCapBytes);
            await using var source = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            var captured = await PumpAsync(options.Files, source, spoolPath, Math.Max(0, cap), token).ConfigureAwait(false);
            return new HttpOutcome(HttpOutcomeKind.Completed, attempt, clock.GetElapsedTime(started),
                Status: (int)response.StatusCode, Reason: response.ReasonPhrase, Headers: HeadersOf(response), Body: captured,
                FinalUrl: sent.Url.ToString(), Redirects: redirects);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            DeleteQuietly(spoolPath);
            return cancel.IsCancellationRequested
                ? End(HttpOutcomeKind.Cancelled, "stopped before the response was complete", redirects)
                : End(HttpOutcomeKind.TimedOut, $"no complete response within {args.TimeoutSeconds} s", redirects);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            DeleteQuietly(spoolPath);
            return End(HttpOutcomeKind.Failed, HttpHops.Describe(e), redirects);
        }
    }

    private static Dictionary<string, string> HeadersOf(HttpResponseMessage response)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
        {
            var joined = string.Join(", ", values);
            headers[name] = headers.TryGetValue(name, out var before) ? before + ", " + joined : joined;
        }
        return headers;
    }

    private static async Task<CapturedStream> PumpAsync(IFileSystem files, Stream source, string spoolPath, int cap, CancellationToken token)
    {
        var buffer = new byte[OutputSpool.ReadBufferBytes];
        await using var spool = new OutputSpool(OutputSpool.OpenFile(files, spoolPath), spoolPath, cap);
        while (true)
        {
            var n = await source.ReadAsync(buffer, token).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            await spool.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
        }
        return await spool.CompleteAsync().ConfigureAwait(false);
    }

    private static void DeleteQuietly(string? path)
    {
        if (path is null)
        {
            return;
        }
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
