using GuestAgent.Agent.Configuration;
using GuestAgent.Agent.Diagnosis;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace GuestAgent.Agent.Transports.Amqp;

/// <summary>
/// <c>guest-agent doctor</c> on an AMQP binding: the broker reached, the guest's user let into its
/// vhost, and its command queue (and query queue, when it has one) and reply exchange there, found by passive declares (which change
/// nothing and consume nothing); over amqps, the broker's certificate first.
/// </summary>
public static class AmqpDoctor
{
    public static async Task<IReadOnlyList<DoctorCheck>> DiagnoseAsync(TenantBinding binding, CancellationToken ct)
    {
        var name = binding.Name;
        var s = AmqpTransport.SettingsOf(binding);
        var clock = new DoctorCheck(name, "clock", CheckVerdict.NotChecked,
            "AMQP carries no server time to compare the guest's clock with; check it with timedatectl");
        if (await NetworkReach.ProblemAsync(name, "endpoint", s.Host, s.Port, ct).ConfigureAwait(false) is { } unreachable)
        {
            return [unreachable, NotChecked(name, "credentials"), NotChecked(name, "command queue"), NotChecked(name, "reply exchange"), clock];
        }
        var checks = new List<DoctorCheck> { DoctorCheck.Ok(name, "endpoint", $"a broker listens at {s.Host}:{s.Port}") };
        var key = $"guest-agent.tenants.{name}.amqp";
        IConnection connection;
        try
        {
            connection = await Connections.Factory(s, $"{name} doctor").CreateConnectionAsync(ct).ConfigureAwait(false);
        }
        catch (BrokerUnreachableException e) when (Innermost(e) is AuthenticationFailureException auth)
        {
            checks.Add(DoctorCheck.Fail(name, "credentials", $"the broker refused user {s.User}: {auth.Message}",
                $"correct {key}.user and the password (tools/rabbitmq/provision.sh prints them)"));
            return [.. checks, NotChecked(name, "command queue"), NotChecked(name, "reply exchange"), clock];
        }
        catch (Exception e) when (s.Certificates?.Explain(e, out var refused) is { } tls)
        {
            checks.Add(DoctorCheck.Fail(name, "tls", tls,
                !refused ? "check that the endpoint's port is the broker's amqps listener (5671 by default)"
                : s.Certificates.CaFile is null
                    ? $"put the CA that signed the broker's certificate (a PEM file) in {key}.ca-file, and connect by a host name the certificate names"
                    : $"check that {key}.ca-file holds the CA that signed the broker's certificate, and connect by a host name the certificate names"));
            return [.. checks, NotChecked(name, "credentials"), NotChecked(name, "command queue"), NotChecked(name, "reply exchange"), clock];
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or IOException)
        {
            // A user without rights on the vhost is let in, then refused at connection.open.
            checks.Add(DoctorCheck.Fail(name, "credentials", $"user {s.User} could not open vhost {s.VirtualHost}: {Innermost(e).Message}",
                $"give {s.User} permissions on vhost {s.VirtualHost}, or correct {key}.vhost"));
            return [.. checks, NotChecked(name, "command queue"), NotChecked(name, "reply exchange"), clock];
        }
        await using (connection.ConfigureAwait(false))
        {
            if (s.Certificates is { } certificates)
            {
                checks.Add(DoctorCheck.Ok(name, "tls", $"the broker's certificate is for {s.Host} and chains to {certificates.TrustedBy}"));
            }
            checks.Add(DoctorCheck.Ok(name, "credentials", $"the broker lets user {s.User} into vhost {s.VirtualHost}"));
            checks.Add(await PassiveAsync(connection, name, "command queue", async ch =>
            {
                var q = await ch.QueueDeclarePassiveAsync(s.CommandQueue, ct).ConfigureAwait(false);
                return $"queue {s.CommandQueue} exists: {q.MessageCount} message(s) waiting, {q.ConsumerCount} consumer(s)";
            }, $"queue {s.CommandQueue}", $"{key}.command-queue").ConfigureAwait(false));
            if (s.QueryQueue is { } queries)
            {
                checks.Add(await PassiveAsync(connection, name, "query queue", async ch =>
                {
                    var q = await ch.QueueDeclarePassiveAsync(queries, ct).ConfigureAwait(false);
                    return $"queue {queries} exists: {q.MessageCount} message(s) waiting, {q.ConsumerCount} consumer(s)";
                }, $"queue {queries}", $"{key}.query-queue").ConfigureAwait(false));
            }
            checks.Add(await PassiveAsync(connection, name, "reply exchange", async ch =>
            {
                await ch.ExchangeDeclarePassiveAsync(s.ReplyExchange, ct).ConfigureAwait(false);
                return $"exchange {s.ReplyExchange} exists (the right to publish to it is not checked: only a publish would tell)";
            }, $"exchange {s.ReplyExchange}", $"{key}.reply-exchange").ConfigureAwait(false));
        }
        checks.Add(clock);
        return checks;
    }

    /// <summary>One passive declare on a channel of its own: a refusal closes the channel.</summary>
    private static async Task<DoctorCheck> PassiveAsync(IConnection connection, string binding, string what, Func<IChannel, Task<string>> declare,
        string thing, string key)
    {
        try
        {
            await using var channel = await connection.CreateChannelAsync().ConfigureAwait(false);
            return DoctorCheck.Ok(binding, what, await declare(channel).ConfigureAwait(false));
        }
        catch (OperationInterruptedException e)
        {
            var code = e.ShutdownReason?.ReplyCode;
            return code switch
            {
                404 => DoctorCheck.Fail(binding, what, $"there is no {thing} in the vhost", $"create it (tools/rabbitmq/provision.sh) or correct {key}"),
                403 => DoctorCheck.Fail(binding, what, $"the guest's user may not use {thing}: {e.ShutdownReason?.ReplyText}",
                    $"grant the user's permissions on it, or correct {key}"),
                _ => DoctorCheck.Fail(binding, what, $"the broker refused {thing}: {e.ShutdownReason?.ReplyText ?? e.Message}", "see the broker's log"),
            };
        }
    }

    private static DoctorCheck NotChecked(string binding, string what) => DoctorCheck.Skipped(binding, what, "the broker could not be used");

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
        {
            e = inner;
        }
        return e;
    }
}
