using System.Net.Sockets;

namespace Coordination.Framing;

/// <summary>What both ends of a connection of our own transports (replica batches, client lock calls) set on their sockets.</summary>
internal static class FrameSockets
{
    /// <summary>
    /// TCP keepalive after 30 s of silence, then every 10 s, three times: a connection whose other end went with a
    /// partition (its reset lost) ends in about a minute, not the system's two hours, and so does its thread.
    /// </summary>
    public static void KeepAlive(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 30);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
    }
}
