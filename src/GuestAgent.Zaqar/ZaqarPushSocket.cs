using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace GuestAgent.Zaqar;

/// <summary>Settings of one <see cref="ZaqarPushSocket"/>.</summary>
public sealed record ZaqarPushSocketOptions
{
    /// <summary>Zaqar's WebSocket endpoint, e.g. ws://127.0.0.1:9000.</summary>
    public required Uri Url { get; init; }

    public required Guid ClientId { get; init; }

    /// <summary>None or Keystone: pre-signed URLs are refused (see <see cref="ZaqarPushSocket"/>).</summary>
    public required ZaqarAuth Auth { get; init; }

    /// <summary>
    /// How often the client pings. The server never does, and a connection that died without a
    /// close (a paused VM, a dropped route) keeps its subscription while pushes vanish.
    /// </summary>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a ping may wait for its pong before the connection is taken for dead and aborted.</summary>
    public TimeSpan PingTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long connecting, and each request, may take.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>A message Zaqar pushed to a subscribed socket: a hint that the queue has something, never a command.</summary>
/// <param name="Queue">The queue it names (unverified: the notification port takes anyone's POSTs).</param>
public sealed record ZaqarNotification(string? Queue, DateTimeOffset ReceivedAt);

/// <summary>How a socket ended: the server's close code (4003: the keystone token expired) or the error that broke it.</summary>
public sealed record ZaqarSocketEnd(int? CloseCode, string Reason)
{
    /// <summary>Zaqar closes a keystone-authenticated socket with this code when the token expires.</summary>
    public const int TokenExpired = 4003;
}

/// <summary>
/// One connection to Zaqar's WebSocket API, used for push: authenticate (keystone), subscribe the
/// socket to queues, receive their notifications. Requests are JSON frames answered in order;
/// notifications arrive between them and are kept apart.
/// Pre-signed URLs are never sent over a socket: the socket's signature check does not confine a
/// signature to its queue (it reaches other queues of the project, where HTTP refuses), and Zaqar
/// refuses claims and subscriptions made with them anyway.
/// </summary>
public sealed class ZaqarPushSocket : IAsyncDisposable
{
    /// <summary>
    /// Gives up on a subscriber after one ~5 s backoff instead of Zaqar's default ~180 s of retries:
    /// the notifier has 10 threads, and a few notifications to a socket that died uncleanly would
    /// otherwise hold them all and delay every other queue's.
    /// </summary>
    public static JsonObject ShortRetryPolicy() => new()
    {
        ["retries_with_no_delay"] = 0,
        ["minimum_delay_retries"] = 0,
        ["minimum_delay"] = 0,
        ["maximum_delay"] = 10,
        ["maximum_delay_retries"] = 0,
    };

    private readonly ClientWebSocket _socket = new();
    private readonly ZaqarPushSocketOptions _options;
    private readonly Channel<JsonElement> _answers = Channel.CreateUnbounded<JsonElement>();
    private readonly Channel<ZaqarNotification> _notifications =
        Channel.CreateBounded<ZaqarNotification>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly SemaphoreSlim _oneRequest = new(1, 1);
    private readonly TaskCompletionSource<ZaqarSocketEnd> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _reader = Task.CompletedTask;

    private ZaqarPushSocket(ZaqarPushSocketOptions options) => _options = options;

    /// <summary>Pushed notifications, in arrival order; completes when the socket ends. Only the newest 256 are kept.</summary>
    public ChannelReader<ZaqarNotification> Notifications => _notifications.Reader;

    /// <summary>Completes when the connection ends, however it ends.</summary>
    public Task<ZaqarSocketEnd> Closed => _closed.Task;

    /// <summary>Connects and, with keystone auth, authenticates the socket.</summary>
    /// <exception cref="ZaqarException">Zaqar refused the connection or the token (status), or could not be reached (no status).</exception>
    public static async Task<ZaqarPushSocket> ConnectAsync(ZaqarPushSocketOptions options, CancellationToken ct = default)
    {
        if (options.Auth is ZaqarAuth.PreSigned)
        {
            throw new InvalidOperationException(
                "Pre-signed URLs are never sent over Zaqar's WebSocket: it does not confine a signature to its queue.");
        }
        var socket = new ZaqarPushSocket(options);
        socket._socket.Options.KeepAliveInterval = options.PingInterval;
        socket._socket.Options.KeepAliveTimeout = options.PingTimeout;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(options.RequestTimeout);
            try
            {
                await socket._socket.ConnectAsync(options.Url, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                throw new ZaqarException("WebSocket", options.Url.ToString(), null, "Connection failed", e.InnerException?.Message ?? e.Message, e);
            }
            socket._reader = Task.Run(socket.ReadAsync, CancellationToken.None);
            if (options.Auth is ZaqarAuth.Keystone keystone)
            {
                var token = await keystone.TokenSource(ct).ConfigureAwait(false);
                await socket.RequestAsync("authenticate", new JsonObject(), ct, token, expect: 200).ConfigureAwait(false);
            }
            return socket;
        }
        catch
        {
            await socket.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Subscribes this socket to <paramref name="queue"/> for <paramref name="ttlSeconds"/> (Zaqar creates
    /// the queue if missing) and returns the subscription's id. A 500 is tried once more: this Zaqar
    /// answers 500 to the first subscription on a queue after one of its subscriptions expired.
    /// </summary>
    public async Task<string> SubscribeAsync(string queue, int ttlSeconds, JsonObject? retryPolicy = null, CancellationToken ct = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            var body = new JsonObject
            {
                ["queue_name"] = queue,
                ["ttl"] = ttlSeconds,
                ["options"] = new JsonObject { ["_retry_policy"] = retryPolicy?.DeepClone() ?? ShortRetryPolicy() },
            };
            try
            {
                var answer = await RequestAsync("subscription_create", body, ct, expect: 201).ConfigureAwait(false);
                return answer.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.Object
                       && b.TryGetProperty("subscription_id", out var id) && id.GetString() is { Length: > 0 } s
                    ? s
                    : throw new ZaqarException("WebSocket", "subscription_create", 201, "No subscription id", answer.GetRawText());
            }
            catch (ZaqarException e) when (e.StatusCode == 500 && attempt == 1)
            {
                // Try once more (see the summary).
            }
        }
    }

    /// <summary>Drops the connection without a closing handshake.</summary>
    public void Abort() => _socket.Abort();

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                // A clean close makes Zaqar delete the socket's subscriptions at once.
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token).ConfigureAwait(false);
                await Task.WhenAny(_reader, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The server went away first: nothing left to close.
            }
        }
        _socket.Abort();
        await _reader.ConfigureAwait(false);
        _socket.Dispose();
        _oneRequest.Dispose();
    }

    private async Task<JsonElement> RequestAsync(string action, JsonObject body, CancellationToken ct, string? authToken = null, int expect = 200)
    {
        await _oneRequest.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var headers = new JsonObject { ["Client-ID"] = _options.ClientId.ToString(), ["X-Project-ID"] = _options.Auth.Project };
            if (authToken is not null)
            {
                headers["X-Auth-Token"] = authToken;
            }
            var frame = new JsonObject { ["action"] = action, ["headers"] = headers, ["body"] = body };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.RequestTimeout);
            JsonElement answer;
            try
            {
                await _socket.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, true, timeout.Token)
                    .ConfigureAwait(false);
                answer = await _answers.Reader.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or ChannelClosedException or ObjectDisposedException
                                      or OperationCanceledException && !ct.IsCancellationRequested)
            {
                var why = e is OperationCanceledException ? $"no answer within {_options.RequestTimeout.TotalSeconds:0.#} s"
                    : _closed.Task.IsCompleted ? $"the socket closed ({_closed.Task.Result.Reason})" : e.Message;
                throw new ZaqarException("WebSocket", action, null, "Connection failed", why, e);
            }
            var status = answer.TryGetProperty("headers", out var h) && h.TryGetProperty("status", out var st) && st.TryGetInt32(out var n) ? n : 0;
            if (status != expect)
            {
                var detail = answer.TryGetProperty("body", out var b) ? b.ValueKind == JsonValueKind.String ? b.GetString() ?? "" : b.GetRawText() : "";
                throw new ZaqarException("WebSocket", action, status, "Refused", detail);
            }
            return answer;
        }
        finally
        {
            _oneRequest.Release();
        }
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[16 * 1024];
        using var frame = new MemoryStream();
        var end = new ZaqarSocketEnd(null, "the connection ended");
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    end = new ZaqarSocketEnd((int?)result.CloseStatus,
                        $"closed by the server ({(int?)result.CloseStatus} {result.CloseStatusDescription})".Replace(" )", ")"));
                    break;
                }
                frame.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    if (frame.Length > 4 * 1024 * 1024)
                    {
                        end = new ZaqarSocketEnd(null, "a frame over 4 MiB: not Zaqar's");
                        break;
                    }
                    continue;
                }
                JsonElement json;
                try
                {
                    json = JsonDocument.Parse(frame.GetBuffer().AsMemory(0, (int)frame.Length)).RootElement.Clone();
                }
                catch (JsonException)
                {
                    frame.SetLength(0);
                    continue;
                }
                frame.SetLength(0);
                if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("Message_Type", out var type) && type.ValueEquals("Notification"))
                {
                    var queue = json.TryGetProperty("queue_name", out var q) && q.ValueKind == JsonValueKind.String ? q.GetString() : null;
                    _notifications.Writer.TryWrite(new ZaqarNotification(queue, DateTimeOffset.UtcNow));
                }
                else
                {
                    _answers.Writer.TryWrite(json);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            end = new ZaqarSocketEnd(null, e.InnerException?.Message ?? e.Message);
        }
        finally
        {
            _answers.Writer.TryComplete();
            _notifications.Writer.TryComplete();
            _closed.TrySetResult(end);
        }
    }
}
