using System.Net;
using System.Net.Sockets;

namespace GuestAgent.Agent.Diagnosis;

/// <summary>Whether the guest reaches a transport's host and port at all: name resolution, then a TCP connection.</summary>
public static class NetworkReach
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A failed check (<paramref name="what"/>: endpoint, push ...) naming where it broke, or null when a connection was made.</summary>
    public static async Task<DoctorCheck?> ProblemAsync(string binding, string what, string host, int port, CancellationToken ct)
    {
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            return DoctorCheck.Fail(binding, what, $"the host name {host} does not resolve ({e.Message})",
                "check the binding's endpoint and the guest's DNS (resolvectl query " + host + ")");
        }
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            await socket.ConnectAsync(addresses, port, timeout.Token).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return DoctorCheck.Fail(binding, what, $"unreachable: no answer from {host}:{port} within {ConnectTimeout.TotalSeconds:0} s",
                "a firewall or security group drops the traffic, or the address is wrong");
        }
        catch (SocketException e)
        {
            var why = e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused: nothing listens on that port",
                SocketError.HostUnreachable or SocketError.NetworkUnreachable => "no route to the host",
                _ => e.Message,
            };
            return DoctorCheck.Fail(binding, what, $"unreachable: {host}:{port}: {why}",
                "check the binding's endpoint (host and port) and that the service runs there");
        }
    }
}
