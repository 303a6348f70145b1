using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GuestAgent.Protocol;

/// <summary>
/// Checks a message broker's TLS certificate (amqps): it must be for the host connected to and
/// chain to the CA of <see cref="CaFile"/> when one is given (only that CA: the cloud's own), or
/// else to one this machine's trust store holds. Nothing turns the check off. The TLS stack only
/// says that the check refused, so the reason of the last refusal is kept for the error messages
/// (<see cref="Explain"/>).
/// </summary>
public sealed class BrokerCertificateCheck
{
    private volatile string? _lastRefusal;

    /// <param name="host">The broker's host as connected to: what the certificate must name.</param>
    /// <param name="caFile">A PEM file with the CA certificate(s) the broker's must chain to; null: the system's trust store.</param>
    /// <exception cref="InvalidDataException">The CA file cannot be read or holds no PEM certificate.</exception>
    public BrokerCertificateCheck(string host, string? caFile)
    {
        Host = host;
        CaFile = caFile;
        Authorities = caFile is null ? null : LoadAuthorities(caFile);
    }

    public string Host { get; }

    public string? CaFile { get; }

    /// <summary>The CA certificates of <see cref="CaFile"/>; null without one.</summary>
    public X509Certificate2Collection? Authorities { get; }

    /// <summary>Why the last certificate was refused; null after one was accepted.</summary>
    public string? LastRefusal => _lastRefusal;

    /// <summary>What trusts the broker's certificate, for messages.</summary>
    public string TrustedBy => CaFile is null ? "this machine's trusted CAs" : $"the CA in {CaFile}";

    /// <summary>Reads the CA certificates of a PEM file.</summary>
    /// <exception cref="InvalidDataException">The file cannot be read or holds no PEM certificate.</exception>
    public static X509Certificate2Collection LoadAuthorities(string caFile)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"cannot read the CA file {caFile}: {e.Message}", e);
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"the CA file {caFile} is no PEM certificate file: {e.Message}", e);
        }
        return certificates.Count > 0
            ? certificates
            : throw new InvalidDataException($"the CA file {caFile} holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- is expected)");
    }

    /// <summary>The TLS stack's certificate callback.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var refusal = Refusal(certificate, chain, errors);
        _lastRefusal = refusal;
        return refusal is null;
    }

    /// <summary>
    /// If <paramref name="error"/> is a failed TLS handshake: why, in words (the certificate's
    /// refusal, or what the TLS stack said); null for any other failure.
    /// </summary>
    public string? Explain(Exception error) => Explain(error, out _);

    /// <inheritdoc cref="Explain(Exception)"/>
    /// <param name="certificateRefused">The broker's certificate was refused (not, say, a port that speaks no TLS): the CA or host name is what to fix.</param>
    public string? Explain(Exception error, out bool certificateRefused)
    {
        certificateRefused = false;
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException auth)
            {
                string why;
                if (auth.Message.Contains("RemoteCertificateValidationCallback", StringComparison.Ordinal) && _lastRefusal is { } refusal)
                {
                    certificateRefused = true;
                    why = refusal;
                }
                else
                {
                    why = $"{auth.Message.TrimEnd('.')}{(auth.InnerException is { } inner ? $" ({inner.Message.TrimEnd('.')})" : "")} " +
                          "(does the port speak TLS?)";
                }
                return $"the TLS handshake with {Host} failed: {why}";
            }
        }
        return null;
    }

    private string? Refusal(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the broker sent no certificate";
        }
        using var leaf = new X509Certificate2(certificate);
        var what = $"the broker's certificate ({leaf.Subject}, issued by {leaf.Issuer})";
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return $"{what} is not for {Host}: it names {Names(leaf)}";
        }
        if (Authorities is null)
        {
            return errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors)
                ? $"{what} does not chain to {TrustedBy}: {Status(chain)}"
                : null;
        }
        // Only the CA file is trusted: the chain is built again against it alone.
        using var own = new X509Chain();
        own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        own.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            // Intermediates the broker sent along.
            own.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
            foreach (var element in chain.ChainElements)
            {
                own.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        return own.Build(leaf) ? null : $"{what} does not chain to {TrustedBy}: {Status(own)}";
    }

    private static string Names(X509Certificate2 leaf)
    {
        var san = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        var names = san is null
            ? []
            : san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(a => a.ToString())).ToList();
        return names.Count > 0 ? string.Join(", ", names) : $"no subject alternative name ({leaf.Subject})";
    }

    private static string Status(X509Chain? chain)
    {
        var statuses = chain?.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.NoError)
            .Select(s => $"{s.Status} ({s.StatusInformation.Trim().TrimEnd('.')})").Distinct().ToList();
        return statuses is { Count: > 0 } ? string.Join("; ", statuses) : "the chain could not be built";
    }
}
