using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Coordination.Framing;

/// <summary>How both ends of a connection of our own transports (replica batches, client lock calls) set up their sockets, connect and greet.</summary>
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

    /// <summary>
    /// Connects <paramref name="socket"/> (blocking) and, with <paramref name="tls"/>, shakes hands as the side that
    /// connects: the other end must show a silo's certificate of the cluster's authority. The stream does not own the
    /// socket: whoever made it ends the connection by disposing that.
    /// </summary>
    public static Stream Connect(Socket socket, IPEndPoint endpoint, ClusterTls? tls)
    {
        socket.Connect(endpoint);
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        if (tls is null)
        {
            return stream;
        }

        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        try
        {
            ssl.AuthenticateAsClient(tls.ReplicaClientOptions());
        }
        catch
        {
            ssl.Dispose();
            throw;
        }

        return ssl;
    }

    /// <summary>
    /// Runs a new connection's greeting (<paramref name="greet"/>: a handshake and a hello) on this thread, within
    /// <paramref name="timeout"/> in all: past it the socket is closed, which ends the greeting's blocking read, and the
    /// result is null (a peer that sends a byte now and then does not hold the thread).
    /// </summary>
    public static T? GreetedWithin<T>(Socket socket, TimeSpan timeout, Func<T?> greet)
        where T : class
    {
        var state = 0;
        using var deadline = new Timer(
            _ =>
            {
                if (Interlocked.CompareExchange(ref state, -1, 0) == 0)
                {
                    socket.Dispose();
                }
            },
            null,
            timeout,
            Timeout.InfiniteTimeSpan);
        var greeted = greet();
        return Interlocked.CompareExchange(ref state, 1, 0) == 0 ? greeted : null;
    }
}
