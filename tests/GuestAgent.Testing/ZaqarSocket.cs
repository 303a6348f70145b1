using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace GuestAgent.Testing;

/// <summary>
/// A client of Zaqar's WebSocket API (JSON frames): every request carries Client-ID and X-Project-ID
/// headers; against a keystone-authenticated Zaqar the socket first sends <see cref="AuthenticateAsync"/>. Answers come back in request order; pushed notifications
/// (<c>"Message_Type": "Notification"</c>) are kept apart, in arrival order.
/// </summary>
public sealed class ZaqarSocket : IAsyncDisposable
{
    /// <summary>The agent's own short notification retry policy (<see cref="GuestAgent.Zaqar.ZaqarPushSocket.ShortRetryPolicy"/>).</summary>
    public static JsonObject ShortRetryPolicy => GuestAgent.Zaqar.ZaqarPushSocket.ShortRetryPolicy();

    private readonly ClientWebSocket _socket = new();
    private readonly Channel<JsonElement> _answers = Channel.CreateUnbounded<JsonElement>();
    private readonly Channel<(JsonElement Body, DateTime ReceivedUtc)> _notifications = Channel.CreateUnbounded<(JsonElement, DateTime)>();
    private readonly SemaphoreSlim _oneRequest = new(1, 1);
    private readonly string _project;
    private readonly Guid _clientId = Guid.NewGuid();
    private Task _reader = Task.CompletedTask;

    private ZaqarSocket(string project) => _project = project;

    public static async Task<ZaqarSocket> ConnectAsync(string url, string project, CancellationToken ct = default)
    {
        var socket = new ZaqarSocket(project);
        await socket._socket.ConnectAsync(new Uri(url), ct);
        socket._reader = Task.Run(socket.ReadAsync, CancellationToken.None);
        return socket;
    }

    /// <summary>Sends one request and returns its answer: <c>{"request":..., "headers": {"status": N}, "body": ...}</c>.</summary>
    public async Task<JsonElement> RequestAsync(
        string action, JsonObject body, TimeSpan? timeout = null, string? authToken = null, IReadOnlyDictionary<string, string>? extraHeaders = null)
    {
        await _oneRequest.WaitAsync();
        try
        {
            var headers = new JsonObject { ["Client-ID"] = _clientId.ToString(), ["X-Project-ID"] = _project };
            if (authToken is not null)
            {
                headers["X-Auth-Token"] = authToken;
            }
            foreach (var (name, value) in extraHeaders ?? new Dictionary<string, string>())
            {
                headers[name] = value;
            }
            var frame = new JsonObject
            {
                ["action"] = action,
                ["headers"] = headers,
                ["body"] = body,
            };
            await _socket.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
            return await _answers.Reader.ReadAsync(cts.Token);
        }
        finally
        {
            _oneRequest.Release();
        }
    }

    /// <summary>
    /// Authenticates the socket with a keystone token (200 when accepted); later requests must name
    /// the token's project, and the server closes the socket (4003) when the token expires.
    /// </summary>
    public async Task<int> AuthenticateAsync(string token, IReadOnlyDictionary<string, string>? extraHeaders = null) =>
        Status(await RequestAsync("authenticate", new JsonObject(), TimeSpan.FromSeconds(30), token, extraHeaders));

    /// <summary><c>claim_create</c>: the answer (201 with <c>claim_id</c> and <c>messages</c>, 204 when nothing was claimable).</summary>
    public Task<JsonElement> ClaimAsync(string queue, int limit = 1, int ttlSeconds = 60, int graceSeconds = 60) =>
        RequestAsync("claim_create", new JsonObject { ["queue_name"] = queue, ["limit"] = limit, ["ttl"] = ttlSeconds, ["grace"] = graceSeconds });

    /// <summary><c>message_delete</c> of a claimed message; returns the answer's status (204 when deleted).</summary>
    public async Task<int> DeleteMessageAsync(string queue, string messageId, string? claimId = null)
    {
        var body = new JsonObject { ["queue_name"] = queue, ["message_id"] = messageId };
        if (claimId is not null)
        {
            body["claim_id"] = claimId;
        }
        return Status(await RequestAsync("message_delete", body));
    }

    /// <summary>Subscribes this socket to <paramref name="queue"/> (creating the queue if needed); returns the answer's status.</summary>
    public async Task<int> SubscribeAsync(string queue, int ttlSeconds = 3600, JsonObject? retryPolicy = null)
    {
        var options = new JsonObject { ["_retry_policy"] = (retryPolicy ?? ShortRetryPolicy).DeepClone() };
        var answer = await RequestAsync("subscription_create", new JsonObject { ["queue_name"] = queue, ["ttl"] = ttlSeconds, ["options"] = options });
        return Status(answer);
    }

    /// <summary>The next pushed notification and when it arrived, or null when none came within <paramref name="timeout"/>.</summary>
    public async Task<(JsonElement Body, DateTime ReceivedUtc)?> NextNotificationAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _notifications.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public static int Status(JsonElement answer) =>
        answer.TryGetProperty("headers", out var h) && h.TryGetProperty("status", out var s) ? s.GetInt32() : 0;

    /// <summary>Drops the connection without a closing handshake, as a killed client would.</summary>
    public void Abort() => _socket.Abort();

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // The server went away first: nothing left to close.
            }
        }
        _socket.Abort();
        await _reader;
        _socket.Dispose();
        _oneRequest.Dispose();
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        using var frame = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                frame.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }
                var received = DateTime.UtcNow;
                var json = JsonDocument.Parse(frame.ToArray()).RootElement.Clone();
                frame.SetLength(0);
                var isNotification = json.ValueKind == JsonValueKind.Object
                    && json.TryGetProperty("Message_Type", out var type) && type.ValueEquals("Notification");
                if (isNotification)
                {
                    _notifications.Writer.TryWrite((json, received));
                }
                else
                {
                    _answers.Writer.TryWrite(json);
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Closed under us (Abort, or the server died): readers see the channels complete.
        }
        finally
        {
            _answers.Writer.TryComplete();
            _notifications.Writer.TryComplete();
        }
    }
}
