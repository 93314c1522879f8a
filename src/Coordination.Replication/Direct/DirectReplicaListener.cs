using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Coordination.Framing;
using Coordination.Replication.Configuration;
using Coordination.Replication.Hosting;
using Coordination.Replication.Protocol;
using Coordination.Replication.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Coordination.Replication.Direct;

/// <summary>
/// This silo's end of the direct replica transport: listens on <see cref="ReplicationOptions.DirectPort"/> from
/// the stage before Orleans starts grain services until that stage stops (so it serves while the silo drains), and
/// answers each batch with its replica's replies, as <see cref="ReplicaGrainService.HandleBatch"/> does. A connection
/// whose hello names another silo (an earlier incarnation that had this port) is closed unanswered.
/// </summary>
internal sealed partial class DirectReplicaListener(
    ILocalSiloDetails silo,
    IOptions<EndpointOptions> endpoints,
    IOptions<ReplicationOptions> options,
    IOptions<SiloMessagingOptions> messaging,
    Lazy<ReplicaNode> node,
    Serializer serializer,
    ILogger<DirectReplicaListener> logger,
    IReplicaTrafficFilter? filter = null) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>Connections served at once at most; one more is closed at once (each other silo needs one).</summary>
    public const int MaxConnections = 1024;

    /// <summary>How long a new connection may take to say hello.</summary>
    public static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(30);

    private readonly LogThrottle _warnings = new(WarningInterval, TimeProvider.System);
    private readonly ReplicaId _self = silo.SiloAddress.ToReplicaId();
    private readonly CancellationTokenSource _stopping = new();
    private readonly FrameAccepts _accepts = new(MaxConnections, "Coordination replica listener connection");
    private Socket? _listener;

    /// <summary>The port this silo listens on; 0 while it does not (not started, switched off, or it could not listen).</summary>
    public int Port { get; private set; }

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (options.Value.DirectTransport)
        {
            // Before grain services start, so a silo asked for its port (through its grain service) already knows it.
            lifecycle.Subscribe(nameof(DirectReplicaListener), ServiceLifecycleStage.RuntimeServices, Start, Stop);
        }
    }

    private Task Start(CancellationToken cancellationToken)
    {
        var address = endpoints.Value.SiloListeningEndpoint?.Address ?? silo.SiloAddress.Endpoint.Address;
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
            {
                // Listening on every address, as Orleans does: IPv4 peers too.
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(address, options.Value.DirectPort));
            socket.Listen(512);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            LogCannotListen(logger, ex, address, options.Value.DirectPort);
            return Task.CompletedTask;
        }

        _listener = socket;
        Port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        LogListening(logger, address, Port);
        DetachedWork.Start(() => _accepts.AcceptAsync(
            socket,
            Serve,
            ex => Warn(held => LogAcceptFailed(logger, ex, held)),
            ex =>
            {
                // Closed, so other silos find the port refused, ask again, hear 0 and go through Orleans.
                Port = 0;
                LogStoppedListening(logger, ex);
            },
            _stopping.Token));
        return Task.CompletedTask;
    }

    private Task Stop(CancellationToken cancellationToken)
    {
        Port = 0;
        _stopping.Cancel();
        _listener?.Dispose();
        _accepts.CloseAll();

        return Task.CompletedTask;
    }

    private void Serve(Socket socket)
    {
        try
        {
            socket.NoDelay = true;
            FrameSockets.KeepAlive(socket);
            // A reply write within the response timeout: a sender that reads no replies (paused) does not hold this
            // thread for ever.
            socket.SendTimeout = (int)Math.Min(messaging.Value.ResponseTimeout.TotalMilliseconds, int.MaxValue);
            Stream network = new NetworkStream(socket, ownsSocket: true);
            using var stream = options.Value.Tls is null ? network : new SslStream(network, leaveInnerStreamOpen: false);
            if (_stopping.IsCancellationRequested || GreetedInTime(socket, stream) is not var (reader, from, to) || to != _self)
            {
                return;
            }

            var scratch = new FrameScratch();
            while (!_stopping.IsCancellationRequested && DirectFrames.Read(reader, scratch) is { } frame)
            {
                if (filter is not null && (!filter.Allows(from, _self) || !filter.Allows(_self, from)))
                {
                    // Fault injection cut the two silos apart: the batch is lost and the connection goes, as Orleans' do.
                    return;
                }

                if (frame.Kind != FrameKind.Batch)
                {
                    continue;
                }

                Frames.WriteTo(stream, Answer(frame, scratch));
                scratch.TrimOutput();
                ReplicationMetrics.DirectFramesSent.Add(1);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
            // The other silo went, went quiet, or this one is stopping: its requests are lost messages.
        }
        catch (System.Security.Authentication.AuthenticationException ex)
        {
            // With TLS: no certificate, or not a silo's of the cluster's authority (a client's, another cluster's).
            Warn(held => LogRefusedCertificate(logger, ex.Message, held));
        }
        catch (Exception ex)
        {
            // Bad input (not this transport, a frame too long, an unreadable address): the connection goes.
            Warn(held => LogBadConnection(logger, ex, held));
        }
    }

    /// <summary>
    /// The handshake (with TLS: the other end must show a silo's certificate of the cluster's authority) and the hello,
    /// within <see cref="HelloTimeout"/> in all (a peer that sends a byte now and then does not hold the thread).
    /// </summary>
    /// <returns>The connection's reader (buffered, on the TLS stream once its handshake is done) and the hello; null when either did not come in time.</returns>
    private Greeting? GreetedInTime(Socket socket, Stream stream) =>
        FrameSockets.GreetedWithin(socket, HelloTimeout, () =>
        {
            if (stream is SslStream ssl)
            {
                ssl.AuthenticateAsServer(options.Value.Tls!.ReplicaServerOptions());
            }

            // Made once the handshake is done: an SslStream cannot be read before it.
            var reader = new BufferedStream(stream, 64 << 10);
            return DirectFrames.ReadHello(reader) is var (from, to) ? new Greeting(reader, from, to) : null;
        });

    /// <summary>The reply frame to a batch, in <paramref name="scratch"/>'s output buffer (the batch's body is read from its input first).</summary>
    private ReadOnlyMemory<byte> Answer(ReplicaFrame frame, FrameScratch scratch)
    {
        try
        {
            var requests = serializer.Deserialize<ReplicaRequest[]>(frame.Body.Span) ?? throw new InvalidDataException("A replica batch held nothing.");
            var replies = Array.ConvertAll(requests, node.Value.Handle);
            return DirectFrames.Write(scratch, frame.Id, FrameKind.Batch, replies, serializer);
        }
        catch (Exception ex)
        {
            // As a grain-service call would: the whole batch fails, and its sender hears why.
            Warn(held => LogBatchFailed(logger, ex, held));
            return DirectFrames.Frame(frame.Id, FrameKind.Failed, Encoding.UTF8.GetBytes($"{ex.GetType().Name}: {ex.Message}"));
        }
    }

    /// <summary>Logs a warning unless one was logged within <see cref="WarningInterval"/>, saying how many were held back.</summary>
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

    [LoggerMessage(EventId = 2240, Level = LogLevel.Information, Message = "Replica batches from other silos are taken directly on {Address}:{Port}")]
    private static partial void LogListening(ILogger logger, IPAddress address, int port);

    [LoggerMessage(EventId = 2241, Level = LogLevel.Warning, Message = "Cannot listen for replica batches on {Address}:{Port}; other silos send them to this one through Orleans")]
    private static partial void LogCannotListen(ILogger logger, Exception exception, IPAddress address, int port);

    [LoggerMessage(EventId = 2242, Level = LogLevel.Warning, Message = "Stopped taking replica batches directly; other silos send them to this one through Orleans")]
    private static partial void LogStoppedListening(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2245, Level = LogLevel.Warning, Message = "A connection for replica batches could not be taken (replica port warnings: at most one per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogAcceptFailed(ILogger logger, Exception exception, int heldBack);

    [LoggerMessage(EventId = 2246, Level = LogLevel.Warning, Message = "Closed a connection on the replica port that did not speak its protocol (replica port warnings: at most one per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogBadConnection(ILogger logger, Exception exception, int heldBack);

    [LoggerMessage(EventId = 2247, Level = LogLevel.Warning, Message = "Closed a connection on the replica port whose TLS handshake failed: {Reason} (only silos of the cluster's certificate authority are taken; replica port warnings: at most one per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogRefusedCertificate(ILogger logger, string reason, int heldBack);

    [LoggerMessage(EventId = 2243, Level = LogLevel.Warning, Message = "A replica batch from another silo failed (replica port warnings: at most one per 30 s, {HeldBack} held back since the last)")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int heldBack);

    private sealed record Greeting(BufferedStream Reader, ReplicaId From, ReplicaId To);
}
