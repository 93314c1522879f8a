using System.Net;
using System.Net.Sockets;

namespace Coordination.TestKit;

/// <summary>Finds blocks of consecutive free loopback ports, so test clusters never collide with each other or a developer's cluster.</summary>
public static class Ports
{
    private static int _next = 20000 + Random.Shared.Next(0, 20000);

    public static int FreeBlock(int size)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var start = Interlocked.Add(ref _next, size + 3) - size - 3;
            if (start + size > 60000)
            {
                Interlocked.Exchange(ref _next, 20000);
                continue;
            }

            if (Enumerable.Range(start, size).All(IsFree))
            {
                return start;
            }
        }

        throw new InvalidOperationException("No block of free ports found.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
