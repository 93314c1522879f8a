using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Coordination.TestKit;

/// <summary>A raw TLS connection to a port, showing a chosen certificate and trusting whatever the server shows: whether the server refuses it.</summary>
public static class TlsProbe
{
    /// <summary>
    /// True when the server ends the connection (during the handshake, or right after it, as TLS 1.3 refuses a
    /// client's certificate); false when the handshake completed and the connection is still open after
    /// <paramref name="wait"/> of silence (what a server that took the certificate does, waiting for its protocol's
    /// first bytes). A handshake that neither completes nor fails within <paramref name="wait"/> proves neither: it throws
    /// <see cref="TimeoutException"/>.
    /// </summary>
    public static async Task<bool> RefusedAsync(int port, X509Certificate2 certificate, TimeSpan wait)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = [certificate],
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }).WaitAsync(wait);
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or SocketException)
        {
            return true;
        }

        try
        {
            return await ssl.ReadAsync(new byte[1]).AsTask().WaitAsync(wait) == 0;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or SocketException)
        {
            return true;
        }
    }
}
