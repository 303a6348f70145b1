namespace GuestAgent.Zaqar;

/// <summary>How a <see cref="ZaqarClient"/> proves who it is.</summary>
public abstract record ZaqarAuth
{
    private ZaqarAuth() { }

    /// <summary>
    /// No authentication: the project is whatever X-Project-Id says. Only for a Zaqar
    /// without auth_strategy (local beds); such a Zaqar isolates nothing.
    /// </summary>
    public sealed record None(string ProjectId) : ZaqarAuth;

    /// <summary>
    /// A keystone token (X-Auth-Token). The token source is asked before every request, so it
    /// can cache and renew; the project comes from the token, <paramref name="ProjectId"/> is
    /// only sent as a hint.
    /// </summary>
    public sealed record Keystone(Func<CancellationToken, ValueTask<string>> TokenSource, string ProjectId) : ZaqarAuth
    {
        public static Keystone WithToken(string token, string projectId) => new(_ => ValueTask.FromResult(token), projectId);
    }

    /// <summary>
    /// Pre-signed URLs, one per queue; each request uses the one whose paths and methods cover it.
    /// The set can be renewed while the client is in use (<see cref="PreSignedCredentials.Replace"/>).
    /// </summary>
    public sealed record PreSigned(PreSignedCredentials Credentials) : ZaqarAuth
    {
        public PreSigned(params PreSignedUrl[] urls) : this(new PreSignedCredentials(urls)) { }

        /// <summary>The URLs held now.</summary>
        public IReadOnlyList<PreSignedUrl> Urls => Credentials.Current;
    }

    public string Project => this switch
    {
        None n => n.ProjectId,
        Keystone k => k.ProjectId,
        PreSigned p => p.Urls.Count > 0 ? p.Urls[0].Project : "",
        _ => "",
    };
}
