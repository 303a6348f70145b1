using System.Net.Sockets;
using GuestAgent.Protocol;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace GuestAgent.Client.Transports.Amqp;

/// <summary>
/// A failure of the AMQP transport, in words that name the broker, vhost and queue, with the
/// broker's reply code when it gave one. <see cref="IsTransient"/>: trying again may help (no
/// connection, a close the broker forced, no confirm in time); refusals (bad credentials, 403 no
/// permission, 404 no such queue or exchange, 530 vhost not allowed, an unroutable command, a
/// broker certificate not trusted) are not.
/// </summary>
public sealed class AmqpTransportException : Exception
{
    public AmqpTransportException(string message, bool isTransient, ushort? replyCode = null, Exception? inner = null)
        : base(message, inner)
    {
        IsTransient = isTransient;
        ReplyCode = replyCode;
    }

    public bool IsTransient { get; }

    /// <summary>The AMQP reply code of the broker's close or return (403, 404, 312 ...), if there was one.</summary>
    public ushort? ReplyCode { get; }

    /// <summary>
    /// <paramref name="error"/>, thrown by RabbitMQ.Client while doing <paramref name="what"/>,
    /// as a transport failure; <paramref name="closed"/> is the channel's close reason when known;
    /// <paramref name="certificates"/>, over amqps, says why a TLS handshake failed.
    /// </summary>
    internal static AmqpTransportException From(Exception error, string what, ShutdownEventArgs? closed = null,
        BrokerCertificateCheck? certificates = null)
    {
        if (error is AmqpTransportException known)
        {
            return known;
        }
        if (certificates?.Explain(error, out var refused) is { } tls)
        {
            // Not transient: a certificate the controller does not trust stays so until someone changes it.
            var hint = refused
                ? $"; give the CA that signed the broker's certificate ({AmqpTransportOptions.CaFileVariable}, guestctl --amqp-ca-file) " +
                  "and a host name the certificate names"
                : "";
            return new($"{what}: {tls}{hint}", isTransient: false, inner: error);
        }
        if (Find<AuthenticationFailureException>(error) is { } auth)
        {
            return new($"{what}: the broker refused the user name or password ({auth.Message})", isTransient: false, 403, error);
        }
        if (Find<PublishReturnException>(error) is { } returned)
        {
            return new($"{what}: returned by the broker ({returned.ReplyCode} {returned.ReplyText}): nothing bound to exchange " +
                       $"'{returned.Exchange}' takes routing key '{returned.RoutingKey}'", isTransient: false, returned.ReplyCode, error);
        }
        var reason = Find<OperationInterruptedException>(error)?.ShutdownReason ?? closed;
        if (reason is { ReplyCode: var code and not 0 } && code != 200)
        {
            var permanent = code is 402 or 403 or 404 or 406 or 530;
            var hint = code switch
            {
                403 => ": the user has no permission for it",
                404 => ": no such queue or exchange on this vhost",
                530 => ": the user may not open this vhost (or it does not exist)",
                _ => "",
            };
            return new($"{what}: {code} {reason.ReplyText}{hint}", !permanent, code, error);
        }
        if (Find<BrokerUnreachableException>(error) is not null || Find<SocketException>(error) is not null || Find<IOException>(error) is not null)
        {
            var inner = Innermost(error).Message.TrimEnd('.');
            return new($"{what}: cannot reach the broker ({inner})", isTransient: true, inner: error);
        }
        return new($"{what}: {Innermost(error).Message}", isTransient: true, reason?.ReplyCode, error);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
        {
            e = inner;
        }
        return e;
    }

    private static T? Find<T>(Exception e) where T : Exception => e switch
    {
        T t => t,
        AggregateException a => a.InnerExceptions.Select(Find<T>).FirstOrDefault(x => x is not null),
        { InnerException: { } inner } => Find<T>(inner),
        _ => null,
    };
}
