using Akka.Actor;
using GuestAgent.Agent.Configuration;
using GuestAgent.Protocol;
using Serilog;

namespace GuestAgent.Agent.Transports.Zaqar.Credentials;

public static class CredentialsWatchProtocol
{
    internal sealed record Check;
}

/// <summary>
/// Says in the log, ahead of time, that a binding's pre-signed URLs are about to expire: once an
/// hour from <see cref="TenantAuth.ExpiryWarning"/> before expiry (a warning), and once an hour
/// after it (an error: the binding can no longer claim or reply until renewed).
/// </summary>
public sealed class CredentialsWatch : ReceiveActor, IWithTimers
{
    /// <summary>How often the expiry is looked at; a renewal is noticed within this.</summary>
    public static readonly TimeSpan CheckEvery = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan RepeatEvery = TimeSpan.FromHours(1);

    private readonly ILogger _log;
    private DateTimeOffset _lastSaid = DateTimeOffset.MinValue;
    private DateTimeOffset _lastExpiry;

    public CredentialsWatch(TenantBinding binding, GuestCredentials credentials, TimeProvider time)
    {
        _log = Serilog.Log.ForContext("Tenant", binding.Name).ForContext("SourceContext", "CredentialsWatch");
        _lastExpiry = credentials.ExpiresAt;
        _log.Information("pre-signed URLs from {Source}; the first expires at {Expires}", ZaqarTransport.AuthOf(binding).Source ?? "the configuration",
            ProtocolJson.FormatTimestamp(_lastExpiry));
        Receive<CredentialsWatchProtocol.Check>(_ =>
        {
            var now = time.GetUtcNow();
            var expires = credentials.ExpiresAt;
            if (expires != _lastExpiry)
            {
                // Renewed: the next warning, if any, is about the new URLs.
                _lastExpiry = expires;
                _lastSaid = DateTimeOffset.MinValue;
            }
            if (now - _lastSaid < RepeatEvery)
            {
                return;
            }
            if (expires <= now)
            {
                _lastSaid = now;
                _log.Error("the pre-signed URLs expired at {Expires}: this binding cannot claim commands or post replies until it gets new ones " +
                           "(mint them with guestctl credentials mint and put them in the configuration)", ProtocolJson.FormatTimestamp(expires));
            }
            else if (expires - now <= ZaqarTransport.AuthOf(binding).ExpiryWarning)
            {
                _lastSaid = now;
                _log.Warning("the pre-signed URLs expire at {Expires} (in {Left}); renew them with guestctl credentials renew",
                    ProtocolJson.FormatTimestamp(expires), (expires - now).ToString(@"d\.hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture));
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(TenantBinding binding, GuestCredentials credentials, TimeProvider time) =>
        Akka.Actor.Props.Create(() => new CredentialsWatch(binding, credentials, time));

    protected override void PreStart()
    {
        Self.Tell(new CredentialsWatchProtocol.Check());
        Timers.StartPeriodicTimer("check", new CredentialsWatchProtocol.Check(), CheckEvery);
    }
}
