using System.Text;
using Coordination.Framing;

namespace Coordination.Lanes;

/// <summary>
/// The client lane's wire format: a lock's acquire and release sent by the client library over a TCP connection of its
/// own to its gateway silo, which invokes the lock grain there and writes back the grain's answer, or the error the grain
/// call ended with, under the call's id (replies in any order: a parked acquire answers after later calls). A connection
/// opens with <see cref="Magic"/> and a hello naming the silo (address and generation) the client means to reach; a
/// listener of another silo, or another incarnation, closes it unanswered, its own answers with an empty hello, after
/// which the client writes calls. Frames as <see cref="Frames"/>.
/// </summary>
internal static class LaneWire
{
    /// <summary>A reply's body at most: a result, or an error with its stack.</summary>
    public const int MaxBody = 1 << 20;

    /// <summary>A call's body at most, as the silo reads it: a lock name (at most 512 bytes), an owner and a few numbers.</summary>
    public const int MaxCall = 64 << 10;

    /// <summary>A hello's body at most: a silo address.</summary>
    public const int MaxHello = 1024;

    /// <summary>"CCL1": coordination client lane, version 1.</summary>
    public static ReadOnlySpan<byte> Magic => "CCL1"u8;

    /// <summary>The bytes a connection starts with: the magic and a hello naming <paramref name="silo"/>.</summary>
    public static byte[] Hello(string silo) => [.. Magic, .. Frames.Frame(0, (int)LaneFrameKind.Hello, Encoding.UTF8.GetBytes(silo))];

    /// <summary>The silo a connection's hello names; null when it does not start as this transport's do. Blocking.</summary>
    public static string? ReadHello(Stream stream)
    {
        var magic = new byte[Magic.Length];
        stream.ReadExactly(magic);
        return magic.AsSpan().SequenceEqual(Magic) && Frames.Read(stream, new byte[Frames.HeaderLength], MaxHello) is { Kind: (int)LaneFrameKind.Hello } frame
            ? Encoding.UTF8.GetString(frame.Body.Span)
            : null;
    }
}

internal enum LaneFrameKind
{
    Hello = 0,

    /// <summary>A <see cref="LaneCall"/>, from the client.</summary>
    Call = 1,

    /// <summary>A <see cref="LaneReply"/> under the call's id (or the ping's), from the silo.</summary>
    Reply = 2,

    /// <summary>From the client, with no body: the silo's reading thread answers it at once with <see cref="LaneReply.Pong"/>.</summary>
    Ping = 3,
}

/// <summary>One lock call on the lane: exactly one of <paramref name="Acquire"/> and <paramref name="Release"/>, for the lock <paramref name="Name"/>.</summary>
[GenerateSerializer, Immutable, Alias("coord.LaneCall")]
internal sealed record LaneCall(string Name, AcquireRequest? Acquire, ReleaseRequest? Release);

/// <summary>A lock call's answer: what the grain returned (<paramref name="Acquired"/> for an acquire, <paramref name="Released"/> for a release), or the error its call ended with.</summary>
[GenerateSerializer, Alias("coord.LaneReply")]
internal sealed record LaneReply(AcquireResult? Acquired, ReleaseOutcome Released, Exception? Error)
{
    /// <summary>A ping's answer.</summary>
    public static readonly LaneReply Pong = new(null, default, null);
}

/// <summary>Where a silo takes client lane connections, and whether they are TLS (with the cluster's authority).</summary>
[GenerateSerializer, Immutable, Alias("coord.LaneAddress")]
internal sealed record LaneAddress(string Host, int Port, string Silo, bool Tls);

/// <summary>Answered by the silo that receives the call (a stateless worker): for a client, its gateway silo.</summary>
[Alias("coord.ILockLaneGrain")]
internal interface ILockLaneGrain : IGrainWithIntegerKey
{
    /// <summary>This silo's lane; null when it has none (switched off, stopping, or it could not listen).</summary>
    [Alias("where")]
    Task<LaneAddress?> Where();
}
