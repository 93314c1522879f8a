using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Coordination.Framing;
using Coordination.Grains.Hosting;
using Coordination.Lanes;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Coordination.Grains.Lanes;

/// <summary>
/// This silo's end of the client lane (see <see cref="LaneWire"/>): listens on <see cref="CoordinationOptions.ClientLanePort"/>
/// while the silo is active, reads each connection's calls on a thread of its own, invokes the lock grain through the
/// silo's <see cref="IGrainFactory"/> as a gateway would for the same call from the client, and writes the grain's
/// answer back once its call returned: a reply means what the same call's reply through Orleans means. With
/// <c>UseClusterTls</c> a connection must show a member's certificate of the cluster's authority, as at the gateway.
/// </summary>
internal sealed partial class LockLaneListener(
    ILocalSiloDetails silo,
    IOptions<EndpointOptions> endpoints,
    IOptions<CoordinationOptions> options,
    IOptions<ReplicationOptions> replication,
    IGrainFactory grains,
    Serializer serializer,
    ILogger<LockLaneListener> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>Connections served at once at most (a client process keeps one per gateway silo); one more is closed at once.</summary>
    public const int MaxConnections = 4096;

    /// <summary>How long a new connection may take to shake hands and say hello.</summary>
    public static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a reply's write may block (a client that reads nothing fills the socket's buffer first): its connection goes after.</summary>
    public static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(30);

    private readonly LogThrottle _warnings = new(WarningInterval, TimeProvider.System);
    private readonly string _self = silo.SiloAddress.ToParsableString();
    private readonly CancellationTokenSource _stopping = new();
    private readonly FrameAccepts _accepts = new(MaxConnections, "Coordination client lane connection");
    private Socket? _listener;

    /// <summary>Where clients reach this silo's lane; null while it takes none (not started, stopping, switched off, or it could not listen).</summary>
    public LaneAddress? Address { get; private set; }

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (options.Value.ClientLane)
        {
            // Once grains can be called; stopped first when the silo stops, so clients go through Orleans while it drains.
            lifecycle.Subscribe(nameof(LockLaneListener), ServiceLifecycleStage.Active, Start, Stop);
        }
    }

    private Task Start(CancellationToken cancellationToken)
    {
        var address = endpoints.Value.GatewayListeningEndpoint?.Address ?? silo.SiloAddress.Endpoint.Address;
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(address, options.Value.ClientLanePort));
            socket.Listen(512);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            LogCannotListen(logger, ex, address, options.Value.ClientLanePort);
            return Task.CompletedTask;
        }

        _listener = socket;
        var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var advertised = (silo.GatewayAddress ?? silo.SiloAddress).Endpoint.Address;
        Address = new LaneAddress(advertised.ToString(), port, _self, replication.Value.Tls is not null);
        LogListening(logger, address, port);
        DetachedWork.Start(() => _accepts.AcceptAsync(
            socket,
            Serve,
            ex => Warn(held => LogAcceptFailed(logger, ex, held)),
            ex =>
            {
                // Clients find the port refused, ask again, hear none and go through Orleans.
                Address = null;
                LogStoppedListening(logger, ex);
            },
            _stopping.Token));
        return Task.CompletedTask;
    }

    private Task Stop(CancellationToken cancellationToken)
    {
        Address = null;
        _stopping.Cancel();
        _listener?.Dispose();

        // Calls in flight on them are unanswered for their clients, which send them again (the same request) through Orleans.
        _accepts.CloseAll();

        return Task.CompletedTask;
    }

    /// <summary>A connection's thread: the handshake and hello, then its calls, each handed to its grain as it is read.</summary>
    private void Serve(Socket socket)
    {
        try
        {
            socket.NoDelay = true;
            FrameSockets.KeepAlive(socket);
            socket.SendTimeout = (int)WriteTimeout.TotalMilliseconds;
            Stream network = new NetworkStream(socket, ownsSocket: true);
            using var stream = replication.Value.Tls is null ? network : new SslStream(network, leaveInnerStreamOpen: false);
            if (_stopping.IsCancellationRequested || GreetedInTime(socket, stream) is not { } reader)
            {
                return;
            }

            var replies = new LaneReplies(socket, stream, serializer);
            var scratch = new FrameScratch();
            while (!_stopping.IsCancellationRequested && Frames.Read(reader, scratch, LaneWire.MaxBody) is { } frame)
            {
                if (frame.Kind == (int)LaneFrameKind.Call)
                {
                    // Deserialized before the next read reuses the scratch; the grain call starts on this thread.
                    replies.Answer(frame.Id, Invoke(serializer.Deserialize<LaneCall>(frame.Body.Span)));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
            // The client went, or this silo is stopping: its calls in flight are unanswered for it.
        }
        catch (System.Security.Authentication.AuthenticationException ex)
        {
            Warn(held => LogRefusedCertificate(logger, ex.Message, held));
        }
        catch (Exception ex)
        {
            // Bad input (not this transport, a frame too long, a body that does not deserialize): the connection goes.
            Warn(held => LogBadConnection(logger, ex, held));
        }
    }

    /// <summary>The lock grain's answer to <paramref name="call"/>, or the error its call ended with, as the reply says it.</summary>
    private async Task<LaneReply> Invoke(LaneCall? call)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(call);
            var grain = grains.GetGrain<ILockGrain>(call.Name);
            return (call.Acquire, call.Release) switch
            {
                ({ } acquire, null) => new LaneReply(await grain.Acquire(acquire).ConfigureAwait(false), default, null),
                (null, { } release) => new LaneReply(null, await grain.Release(release).ConfigureAwait(false), null),
                _ => throw new CoordinationArgumentException("A client lane call must hold exactly one of an acquire and a release.", nameof(call)),
            };
        }
        catch (Exception ex)
        {
            return new LaneReply(null, default, ex);
        }
    }

    /// <summary>The handshake (with TLS: a member's certificate of the cluster's authority) and a hello naming this silo, within <see cref="HelloTimeout"/>.</summary>
    private BufferedStream? GreetedInTime(Socket socket, Stream stream) =>
        FrameSockets.GreetedWithin(socket, HelloTimeout, () =>
        {
            if (stream is SslStream ssl)
            {
                ssl.AuthenticateAsServer(replication.Value.Tls!.LaneServerOptions());
            }

            var reader = new BufferedStream(stream, 16 << 10);
            return LaneWire.ReadHello(reader) == _self ? reader : null;
        });

    private void Warn(Action<int> log)
    {
        if (_warnings.TryEnter(out var heldBack))
        {
            try
            {
                log(heldBack);
            }
            catch (Exception)
            {
                // A logging provider's error: not a connection's thread's to end the process with.
            }
        }
    }

    [LoggerMessage(EventId = 3501, Level = LogLevel.Information, Message = "Clients' lock calls are taken directly on {Address}:{Port} (the client lane)")]
    private static partial void LogListening(ILogger logger, IPAddress address, int port);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Warning, Message = "Cannot listen for clients' lock calls on {Address}:{Port}; clients send them to this silo through Orleans")]
    private static partial void LogCannotListen(ILogger logger, Exception exception, IPAddress address, int port);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Warning, Message = "Stopped taking clients' lock calls directly; clients send them to this silo through Orleans")]
    private static partial void LogStoppedListening(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3504, Level = LogLevel.Warning, Message = "A connection for clients' lock calls could not be taken (client lane warnings: at most one per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogAcceptFailed(ILogger logger, Exception exception, int heldBack);

    [LoggerMessage(EventId = 3505, Level = LogLevel.Warning, Message = "Closed a connection on the client lane that did not speak its protocol (client lane warnings: at most one per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogBadConnection(ILogger logger, Exception exception, int heldBack);

    [LoggerMessage(EventId = 3506, Level = LogLevel.Warning, Message = "Closed a connection on the client lane whose TLS handshake failed: {Reason} (only members of the cluster's certificate authority are taken; client lane warnings: at most one per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogRefusedCertificate(ILogger logger, string reason, int heldBack);
}
