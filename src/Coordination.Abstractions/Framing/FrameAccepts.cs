using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Coordination.Framing;

/// <summary>
/// A listener's connections for our own transports: each taken connection is served on a thread of its own (blocking
/// reads: a frame wakes that thread alone), at most <paramref name="maxConnections"/> at once (one more is closed at
/// once), and closed when its thread ends or the listener stops.
/// </summary>
internal sealed class FrameAccepts(int maxConnections, string threadName)
{
    private readonly ConcurrentDictionary<Socket, byte> _connections = new();

    /// <summary>
    /// Takes connections until <paramref name="stopping"/> or the listener fails (then it is closed, and
    /// <paramref name="listenerFailed"/> hears why); a connection that could not be taken, or served for want of a
    /// thread, is told to <paramref name="acceptFailed"/>, and the next one is taken.
    /// </summary>
    public async Task AcceptAsync(Socket listener, Action<Socket> serve, Action<Exception> acceptFailed, Action<Exception> listenerFailed, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // One connection went before it was taken, or the process is short of descriptors for now (then a
                // moment before the next try, or this loop would spin while none are freed).
                acceptFailed(ex);
                if (ex.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None).ConfigureAwait(false);
                }

                continue;
            }
            catch (Exception ex)
            {
                if (!stopping.IsCancellationRequested)
                {
                    listener.Dispose();
                    listenerFailed(ex);
                }

                return;
            }

            if (_connections.Count >= maxConnections)
            {
                accepted.Dispose();
                continue;
            }

            _connections[accepted] = 0;
            try
            {
                new Thread(() => Serve(accepted, serve), 256 << 10) { IsBackground = true, Name = threadName }.UnsafeStart();
            }
            catch (Exception ex)
            {
                // Out of threads: this connection goes (its other end goes through Orleans), the next may be served.
                _connections.TryRemove(accepted, out _);
                accepted.Dispose();
                acceptFailed(ex);
            }
        }
    }

    /// <summary>Closes every connection (their threads end at their next read or write).</summary>
    public void CloseAll()
    {
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }
    }

    private void Serve(Socket socket, Action<Socket> serve)
    {
        try
        {
            serve(socket);
        }
        finally
        {
            _connections.TryRemove(socket, out _);
            socket.Dispose();
        }
    }
}
