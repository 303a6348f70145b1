using System.Net;
using System.Net.Sockets;

namespace GuestAgent.Testing;

/// <summary>Loopback ports for tests.</summary>
public static class LoopbackPorts
{
    /// <summary>A port on 127.0.0.1 that was free a moment ago: nothing listens there, and a test may listen there itself.</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
