using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GuestAgent.Zaqar;

namespace GuestAgent.Testing;

/// <summary>The two tenants of the <see cref="KeystoneBed"/>: projects tenant-a and tenant-b.</summary>
public enum Tenant
{
    A,
    B,
}

/// <summary>A keystone user with a role on one project, as the bed's env file lists it.</summary>
public sealed record KeystoneCredentials(string UserName, string Password, string ProjectName, string ProjectId);

/// <summary>A project-scoped token keystone issued (X-Subject-Token) and the project it is scoped to.</summary>
public sealed record KeystoneToken(string Value, string ProjectId, DateTimeOffset ExpiresAt);

/// <summary>
/// One access rule of a keystone application credential: a token issued from the credential is
/// good only for requests to <paramref name="Service"/> (a catalog type, e.g. "messaging") with this
/// method and a path matching <paramref name="Path"/> (<c>*</c> one segment, <c>**</c> any), when the
/// service's keystonemiddleware is configured to check (<c>[keystone_authtoken] service_type</c>).
/// </summary>
public sealed record AccessRule(string Service, string Method, string Path)
{
    /// <summary>A rule for Zaqar (catalog type "messaging").</summary>
    public static AccessRule Messaging(string method, string path) => new("messaging", method, path);
}

/// <summary>A keystone application credential (its id and the secret keystone showed once).</summary>
public sealed record ApplicationCredential(string Id, string Secret, string ProjectId);

/// <summary>Keystone refused to issue a token.</summary>
public sealed class KeystoneAuthException(int statusCode, string body)
    : Exception($"keystone refused the token request (HTTP {statusCode}): {body}")
{
    public int StatusCode { get; } = statusCode;
}

/// <summary>
/// A real keystone (SQLite, fernet tokens) and a real Zaqar with auth_strategy = keystone, its own
/// Redis, all on 127.0.0.1, started by tools/keystone/start.sh. Keystone holds two tenants,
/// tenant-a (user-a) and tenant-b (user-b), each user with the member role on its project only.
/// <see cref="Shared"/> is one bed per test run: the bed tools/test.sh started (its env file is named
/// by GUESTAGENT_KEYSTONE_ENV), or else one this process starts and stops at exit.
/// The tenants are shared by every test: keep tests apart by queue names (<see cref="ZaqarBed.NewQueue"/>).
/// </summary>
public sealed class KeystoneBed : IDisposable
{
    public const string EnvVariable = "GUESTAGENT_KEYSTONE_ENV";
    private static readonly Lazy<KeystoneBed> SharedBed = new(StartShared, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly ConcurrentDictionary<Tenant, Task<KeystoneToken>> _tokens = new();
    private readonly bool _owned;

    private KeystoneBed(IReadOnlyDictionary<string, string> env, bool owned)
    {
        Env = env;
        KeystoneUrl = Get("KEYSTONE_URL").TrimEnd('/');
        ZaqarUrl = Get("ZAQAR_URL");
        Secret = Get("ZAQAR_SECRET");
        RunDir = Get("KEYSTONE_RUN_DIR");
        TenantA = new(Get("TENANT_A_USER"), Get("TENANT_A_PASSWORD"), Get("TENANT_A_PROJECT"), Get("TENANT_A_PROJECT_ID"));
        TenantB = new(Get("TENANT_B_USER"), Get("TENANT_B_PASSWORD"), Get("TENANT_B_PROJECT"), Get("TENANT_B_PROJECT_ID"));
        Admin = new(Get("ADMIN_USER"), Get("ADMIN_PASSWORD"), Get("ADMIN_PROJECT"), Get("ADMIN_PROJECT_ID"));
        WebSocketUrl = env.GetValueOrDefault("ZAQAR_WS_URL");
        _owned = owned;

        string Get(string name) => env.TryGetValue(name, out var v) && v.Length > 0
            ? v
            : throw new InvalidOperationException($"The keystone bed's env file has no {name}.");
    }

    public static KeystoneBed Shared => SharedBed.Value;

    /// <summary>Every variable of the bed's env file.</summary>
    public IReadOnlyDictionary<string, string> Env { get; }

    /// <summary>Keystone's identity v3 URL, e.g. http://127.0.0.1:35357/v3.</summary>
    public string KeystoneUrl { get; }

    /// <summary>Zaqar's base URL (without /v2).</summary>
    public string ZaqarUrl { get; }

    /// <summary>Zaqar's [signed_url] secret_key, to mint pre-signed URLs offline.</summary>
    public string Secret { get; }
    public string RunDir { get; }

    /// <summary>Zaqar's keystone-authenticated WebSocket server, when the bed was started with --websocket.</summary>
    public string? WebSocketUrl { get; }
    public KeystoneCredentials TenantA { get; }
    public KeystoneCredentials TenantB { get; }
    public KeystoneCredentials Admin { get; }

    public KeystoneCredentials Credentials(Tenant tenant) => tenant == Tenant.A ? TenantA : TenantB;

    public string ProjectId(Tenant tenant) => Credentials(tenant).ProjectId;

    /// <summary>
    /// Starts a bed of its own (stopped by <see cref="Dispose"/>), with Zaqar's WebSocket server when
    /// <paramref name="webSocket"/>; <paramref name="authToken"/> overrides settings of zaqar.conf's
    /// [keystone_authtoken] (an empty value removes one: keystonemiddleware's default applies).
    /// </summary>
    public static KeystoneBed StartPrivate(bool webSocket = false, IReadOnlyDictionary<string, string>? authToken = null) =>
        new(RunStart(Path.Combine(Path.GetTempPath(), "guestagent-keystone-" + Guid.NewGuid().ToString("N")[..12]), webSocket, authToken), owned: true);

    /// <summary>
    /// A token for the tenant's user, scoped to the tenant's project; one per tenant for the whole
    /// run, renewed when less than five minutes are left.
    /// </summary>
    public async Task<string> TokenAsync(Tenant tenant, CancellationToken ct = default)
    {
        var task = _tokens.GetOrAdd(tenant, t => IssueTokenAsync(Credentials(t)));
        KeystoneToken token;
        try
        {
            token = await task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            _tokens.TryRemove(new KeyValuePair<Tenant, Task<KeystoneToken>>(tenant, task));
            throw;
        }
        if (token.ExpiresAt - DateTimeOffset.UtcNow < TimeSpan.FromMinutes(5))
        {
            _tokens.TryRemove(new KeyValuePair<Tenant, Task<KeystoneToken>>(tenant, task));
            return await TokenAsync(tenant, ct).ConfigureAwait(false);
        }
        return token.Value;
    }

    /// <summary>POST /v3/auth/tokens with the password method, scoped to the given project.</summary>
    public Task<KeystoneToken> IssueTokenAsync(KeystoneCredentials who, CancellationToken ct = default) =>
        IssueTokenAsync(who.UserName, who.Password, who.ProjectId, ct);

    /// <summary>
    /// POST /v3/auth/tokens: <paramref name="userName"/> (default domain) with
    /// <paramref name="password"/>, scoped to project <paramref name="projectId"/>. A fresh token
    /// each call; throws <see cref="KeystoneAuthException"/> when keystone refuses.
    /// </summary>
    public async Task<KeystoneToken> IssueTokenAsync(string userName, string password, string projectId, CancellationToken ct = default)
    {
        var request = new JsonObject
        {
            ["auth"] = new JsonObject
            {
                ["identity"] = new JsonObject
                {
                    ["methods"] = new JsonArray("password"),
                    ["password"] = new JsonObject
                    {
                        ["user"] = new JsonObject
                        {
                            ["name"] = userName,
                            ["domain"] = new JsonObject { ["id"] = "default" },
                            ["password"] = password,
                        },
                    },
                },
                ["scope"] = new JsonObject { ["project"] = new JsonObject { ["id"] = projectId } },
            },
        };
        return await PostTokenRequestAsync(request, ct).ConfigureAwait(false);
    }

    private async Task<KeystoneToken> PostTokenRequestAsync(JsonObject request, CancellationToken ct)
    {
        // A body with a Content-Length: uwsgi's --http-socket reads no chunked request body.
        using var content = new StringContent(request.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var resp = await Http.PostAsync(KeystoneUrl + "/auth/tokens", content, ct).ConfigureAwait(false);
        var body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if ((int)resp.StatusCode != 201 || !resp.Headers.TryGetValues("X-Subject-Token", out var values))
        {
            throw new KeystoneAuthException((int)resp.StatusCode, body);
        }
        using var doc = JsonDocument.Parse(body);
        var token = doc.RootElement.GetProperty("token");
        return new KeystoneToken(
            values.First(),
            token.GetProperty("project").GetProperty("id").GetString()!,
            DateTimeOffset.Parse(token.GetProperty("expires_at").GetString()!, CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// POST /v3/users/{id}/application_credentials as the tenant's user (with its password token):
    /// a credential for the tenant's project with the user's roles, restricted to
    /// <paramref name="accessRules"/> (none: unrestricted in what it may call, yet not allowed to
    /// manage credentials).
    /// </summary>
    public async Task<ApplicationCredential> CreateApplicationCredentialAsync(
        Tenant tenant, IEnumerable<AccessRule> accessRules, CancellationToken ct = default)
    {
        var rules = new JsonArray();
        foreach (var rule in accessRules)
        {
            rules.Add(new JsonObject { ["service"] = rule.Service, ["method"] = rule.Method, ["path"] = rule.Path });
        }
        var credential = new JsonObject { ["name"] = "guest-" + Guid.NewGuid().ToString("N")[..12] };
        if (rules.Count > 0)
        {
            credential["access_rules"] = rules;
        }
        var request = new JsonObject { ["application_credential"] = credential };
        var userId = Get(tenant == Tenant.A ? "TENANT_A_USER_ID" : "TENANT_B_USER_ID");
        using var req = new HttpRequestMessage(HttpMethod.Post, $"{KeystoneUrl}/users/{userId}/application_credentials")
        {
            Content = new StringContent(request.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        req.Headers.Add("X-Auth-Token", await TokenAsync(tenant, ct).ConfigureAwait(false));
        using var resp = await Http.SendAsync(req, ct).ConfigureAwait(false);
        var body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if ((int)resp.StatusCode != 201)
        {
            throw new KeystoneAuthException((int)resp.StatusCode, body);
        }
        using var doc = JsonDocument.Parse(body);
        var made = doc.RootElement.GetProperty("application_credential");
        return new ApplicationCredential(
            made.GetProperty("id").GetString()!, made.GetProperty("secret").GetString()!, made.GetProperty("project_id").GetString()!);

        string Get(string name) => Env.TryGetValue(name, out var v) && v.Length > 0
            ? v
            : throw new InvalidOperationException($"The keystone bed's env file has no {name}.");
    }

    /// <summary>
    /// POST /v3/auth/tokens with the application_credential method: a token scoped to the
    /// credential's project carrying its access rules. Throws <see cref="KeystoneAuthException"/>
    /// when keystone refuses.
    /// </summary>
    public Task<KeystoneToken> IssueTokenAsync(ApplicationCredential credential, CancellationToken ct = default) =>
        PostTokenRequestAsync(new JsonObject
        {
            ["auth"] = new JsonObject
            {
                ["identity"] = new JsonObject
                {
                    ["methods"] = new JsonArray("application_credential"),
                    ["application_credential"] = new JsonObject { ["id"] = credential.Id, ["secret"] = credential.Secret },
                },
            },
        }, ct);

    /// <summary>DELETE /v3/auth/tokens: revokes <paramref name="token"/> (a token may revoke itself).</summary>
    public async Task RevokeTokenAsync(string token, CancellationToken ct = default)
    {
        using var req = new HttpRequestMessage(HttpMethod.Delete, KeystoneUrl + "/auth/tokens");
        req.Headers.Add("X-Auth-Token", token);
        req.Headers.Add("X-Subject-Token", token);
        using var resp = await Http.SendAsync(req, ct).ConfigureAwait(false);
        if ((int)resp.StatusCode != 204)
        {
            throw new KeystoneAuthException((int)resp.StatusCode, await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
        }
    }

    /// <summary>
    /// A client authenticated as the tenant's user with its keystone token (renewed as needed). It
    /// sends the tenant's project id as X-Project-Id, which Zaqar ignores in favour of the token's.
    /// </summary>
    public ZaqarClient Client(Tenant tenant, Guid? clientId = null) =>
        Client(new ZaqarAuth.Keystone(ct => new ValueTask<string>(TokenAsync(tenant, ct)), ProjectId(tenant)), clientId);

    /// <summary>A client with the given token and X-Project-Id hint (e.g. one tenant's token, another's project).</summary>
    public ZaqarClient Client(string token, string projectIdHint, Guid? clientId = null) =>
        Client(ZaqarAuth.Keystone.WithToken(token, projectIdHint), clientId);

    /// <summary>A client that authenticates with pre-signed URLs only (no keystone token).</summary>
    public ZaqarClient PreSignedClient(params PreSignedUrl[] urls) => Client(new ZaqarAuth.PreSigned(urls));

    public ZaqarClient Client(ZaqarAuth auth, Guid? clientId = null) => new(new ZaqarClientOptions
    {
        Endpoint = ZaqarUrl,
        ClientId = clientId ?? Guid.NewGuid(),
        Auth = auth,
        // 4xx are never retried; the retries cover a busy single-threaded zaqar-server.
        MaxAttempts = 4,
        RequestTimeout = TimeSpan.FromSeconds(30),
    });

    /// <summary>
    /// A pre-signed URL for the tenant's <paramref name="queue"/>, minted offline with the bed's
    /// secret exactly as Zaqar's share call would.
    /// </summary>
    public PreSignedUrl Mint(Tenant tenant, string queue, DateTimeOffset expires, IEnumerable<string> paths, IEnumerable<string> methods) =>
        PreSignedUrl.Mint(Secret, queue, ProjectId(tenant), expires, paths, methods);

    /// <summary>
    /// A raw request to Zaqar (for what <see cref="ZaqarClient"/> will not send or has no call for):
    /// <paramref name="path"/> is e.g. /v2/queues; a Client-ID is added. Returns status and body.
    /// </summary>
    public async Task<(int Status, string Body)> RawZaqarAsync(
        HttpMethod method, string path, IReadOnlyDictionary<string, string> headers, string? jsonBody = null, CancellationToken ct = default)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var req = new HttpRequestMessage(method, ZaqarUrl + path);
            req.Headers.TryAddWithoutValidation("Client-ID", Guid.NewGuid().ToString());
            // A fresh connection each time: a pooled one the server already closed ends the response early.
            req.Headers.ConnectionClose = true;
            foreach (var (name, value) in headers)
            {
                req.Headers.TryAddWithoutValidation(name, value);
            }
            if (jsonBody is not null)
            {
                req.Content = new StringContent(jsonBody, System.Text.Encoding.UTF8, "application/json");
            }
            try
            {
                using var resp = await Http.SendAsync(req, ct).ConfigureAwait(false);
                return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
            }
            catch (HttpRequestException e) when (e.InnerException is HttpIOException && attempt < 3)
            {
                // The server answered a refusal before reading the body and closed the connection
                // under the rest of it: the same request again gets its answer.
            }
        }
    }

    public void Dispose()
    {
        if (_owned)
        {
            Run(RepoPaths.Tool("keystone", "stop.sh"), [RunDir]);
        }
    }

    private static KeystoneBed StartShared()
    {
        var envFile = Environment.GetEnvironmentVariable(EnvVariable);
        if (!string.IsNullOrEmpty(envFile))
        {
            if (!File.Exists(envFile))
            {
                throw new InvalidOperationException($"{EnvVariable} names {envFile}, which does not exist: is the keystone bed running?");
            }
            return new KeystoneBed(ReadEnv(File.ReadAllText(envFile)), owned: false);
        }
        var bed = new KeystoneBed(RunStart(Path.Combine(Path.GetTempPath(), "guestagent-keystone-" + Environment.ProcessId)), owned: true);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => bed.Dispose();
        return bed;
    }

    private static Dictionary<string, string> RunStart(string dir, bool webSocket = false, IReadOnlyDictionary<string, string>? authToken = null)
    {
        List<string> args = ["--dir", dir];
        if (webSocket)
        {
            args.Add("--websocket");
        }
        foreach (var (name, value) in authToken ?? new Dictionary<string, string>())
        {
            args.AddRange(["--authtoken", $"{name}={value}"]);
        }
        return ReadEnv(Run(RepoPaths.Tool("keystone", "start.sh"), [.. args]));
    }

    private static Dictionary<string, string> ReadEnv(string text) => BedScripts.ReadEnv(text);

    private static string Run(string file, string[] args) => BedScripts.Run(file, args);
}
