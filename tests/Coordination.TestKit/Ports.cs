using System.Net;
using System.Net.Sockets;

namespace Coordination.TestKit;

/// <summary>
/// Finds blocks of consecutive free loopback ports, so test clusters never collide with each other or a
/// developer's cluster. Blocks stay below Linux's ephemeral range (32768 and up), where an outgoing
/// connection could take a port between this check and the server's bind.
/// </summary>
public static class Ports
{
    private const int First = 20000;
    private const int Last = 32700;
    private static int _next = First + Random.Shared.Next(0, 10000);

    public static int FreeBlock(int size)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var start = Interlocked.Add(ref _next, size + 3) - size - 3;
            if (start + size > Last)
            {
                Interlocked.Exchange(ref _next, First);
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
