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
    ILogger<LockLaneListener> logger,
    ILaneFaults? faults = null) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>Connections served at once at most (a client process keeps one per gateway silo); one more is closed at once.</summary>
    public const int MaxConnections = 4096;

    /// <summary>How long a new connection may take to shake hands and say hello.</summary>
    public static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Calls of one connection whose replies are not written yet, at most; the connection is read no further until one is.</summary>
    public const int MaxInFlight = 2048;

    /// <summary>How long a reply's write may block (a client that reads nothing fills the socket's buffer first): its connection goes after.</summary>
    public static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(5);

    private const int SendBuffer = 1 << 20;

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

            // Room for every reply a client may leave unanswered (it declines calls past a quarter of its own send
            // buffer), so a reply's write does not wait unless the client stopped reading.
            socket.SendBufferSize = SendBuffer;
            Stream network = new NetworkStream(socket, ownsSocket: true);
            using var stream = replication.Value.Tls is null ? network : new SslStream(network, leaveInnerStreamOpen: false);
            if (_stopping.IsCancellationRequested || GreetedInTime(socket, stream) is not { } reader)
            {
                return;
            }

            // The hello's answer: the client counts the connection as made (and writes calls) only once it has it.
            Frames.WriteTo(stream, Frames.Frame(0, (int)LaneFrameKind.Hello, []));
            var slots = new SemaphoreSlim(MaxInFlight);
            var replies = new LaneReplies(socket, stream, serializer, () => slots.Release());
            var scratch = new FrameScratch();
            while (!_stopping.IsCancellationRequested && Frames.Read(reader, scratch, LaneWire.MaxCall) is { } frame)
            {
                Locks.LockMetrics.LaneFramesReceived.Add(1);
                if (frame.Kind == (int)LaneFrameKind.Ping)
                {
                    // Answered at once, whatever the grain calls wait for: the client's sign that this silo is alive (one
                    // answer queued at a time: pings while a write waits add none).
                    replies.Pong(frame.Id);
                    continue;
                }

                if (frame.Kind != (int)LaneFrameKind.Call)
                {
                    continue;
                }

                // A client past its calls in flight (or whose replies have not been written for that long) is read no
                // further: TCP holds its next calls back, and one that never reads its replies loses the connection.
                if (!slots.Wait(WriteTimeout))
                {
                    return;
                }

                // Deserialized before the next read reuses the scratch; the grain call starts on this thread.
                _ = AnswerAsync(frame.Id, serializer.Deserialize<LaneCall>(frame.Body.Span), replies);
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

    /// <summary>
    /// Invokes the lock grain for <paramref name="call"/> and sends its answer, or the error its call ended with, once
    /// the call returned (the continuation runs on the thread that ended it). Never fails: every error is the reply's.
    /// </summary>
    private async Task AnswerAsync(long id, LaneCall? call, LaneReplies replies)
    {
        LaneReply reply;
        try
        {
            ArgumentNullException.ThrowIfNull(call);
            var grain = grains.Reference<ILockGrain>(call.Name);
            reply = (call.Acquire, call.Release) switch
            {
                ({ } acquire, null) => new LaneReply(await grain.Acquire(acquire).ConfigureAwait(false), default, null),
                (null, { } release) => new LaneReply(null, await grain.Release(release).ConfigureAwait(false), null),
                _ => throw new CoordinationArgumentException("A client lane call must hold exactly one of an acquire and a release.", nameof(call)),
            };
        }
        catch (Exception ex)
        {
            reply = new LaneReply(null, default, ex);
        }

        if (faults is not null && call is not null && Loses(call))
        {
            replies.Skip();
            return;
        }

        replies.Send(id, reply);
    }

    private bool Loses(LaneCall call)
    {
        try
        {
            return faults!.LosesReplyTo(call);
        }
        catch (Exception)
        {
            return false;
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
