using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GuestAgent.Protocol.Tests;

/// <summary>
/// The broker certificate check in real TLS handshakes on loopback, for what the bed cannot show:
/// its certificate names every address that reaches it. A server certificate signed by a private
/// CA, for a name the client did not connect to, or checked without the CA file.
/// </summary>
public sealed class BrokerCertificateCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ga-certcheck-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_certificate_of_the_ca_for_another_host_is_refused_naming_the_names_it_holds()
    {
        var (caFile, server) = Issue(dnsName: "broker.example");
        var check = new BrokerCertificateCheck("127.0.0.1", caFile);

        var error = Assert.IsType<AuthenticationException>(await HandshakeAsync(server, check));

        Assert.Equal("the TLS handshake with 127.0.0.1 failed: the broker's certificate (CN=broker.example, issued by CN=Test cloud CA) " +
                     "is not for 127.0.0.1: it names broker.example", check.Explain(error, out var refused));
        Assert.True(refused);
    }

    [Fact]
    public async Task A_certificate_of_the_ca_for_the_host_is_accepted_and_without_the_ca_file_it_is_refused()
    {
        var (caFile, server) = Issue(dnsName: "localhost", ip: IPAddress.Loopback);

        Assert.Null(await HandshakeAsync(server, new BrokerCertificateCheck("127.0.0.1", caFile)));
        var system = new BrokerCertificateCheck("127.0.0.1", null);
        var error = Assert.IsType<AuthenticationException>(await HandshakeAsync(server, system));
        Assert.StartsWith("the TLS handshake with 127.0.0.1 failed: the broker's certificate (CN=localhost, issued by CN=Test cloud CA) " +
                          "does not chain to this machine's trusted CAs: ", system.Explain(error));
    }

    [Fact]
    public void A_ca_file_that_holds_no_certificate_is_refused_when_read()
    {
        var path = Path.Combine(_dir, "not-a-ca.pem");
        File.WriteAllText(path, "just text\n");

        var error = Assert.Throws<InvalidDataException>(() => new BrokerCertificateCheck("h", path));
        Assert.Contains($"the CA file {path} holds no certificate", error.Message);
        Assert.Contains("cannot read the CA file", Assert.Throws<InvalidDataException>(() => new BrokerCertificateCheck("h", path + ".missing")).Message);
    }

    /// <summary>A CA written to a PEM file, and a server certificate (with its key) it signed for <paramref name="dnsName"/> and <paramref name="ip"/>.</summary>
    private (string CaFile, X509Certificate2 Server) Issue(string dnsName, IPAddress? ip = null)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Test cloud CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        var caFile = Path.Combine(_dir, $"ca-{Guid.NewGuid():N}.pem");
        File.WriteAllText(caFile, ca.ExportCertificatePem());

        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(dnsName);
        if (ip is not null)
        {
            names.AddIpAddress(ip);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var signed = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
        return (caFile, signed.CopyWithPrivateKey(key));
    }

    /// <summary>A TLS handshake with a loopback server presenting <paramref name="server"/>; the client's error, or null when it trusted it.</summary>
    private static async Task<Exception?> HandshakeAsync(X509Certificate2 server, BrokerCertificateCheck check)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serving = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync();
            await using var tls = new SslStream(socket.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(server);
            }
            catch (Exception e) when (e is AuthenticationException or IOException)
            {
                // The client refused: its side is what is tested.
            }
        });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var stream = new SslStream(client.GetStream(), false, check.Validate);
        Exception? error = null;
        try
        {
            await stream.AuthenticateAsClientAsync(check.Host);
        }
        catch (AuthenticationException e)
        {
            error = e;
        }
        client.Close();
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
        return error;
    }
}
