using System.Text;
using Coordination.Framing;
using Coordination.Replication.Configuration;
using Orleans.Serialization;

namespace Coordination.Replication.Direct;

/// <summary>
/// The wire format of the direct replica transport. A connection opens with <see cref="Magic"/> and a hello frame
/// naming the sending silo and the silo it means to reach (each a <see cref="ReplicaId"/>); after it, every frame is a
/// 16-byte header (body length, correlation id, kind; little-endian) and an Orleans-serialized body: the sender's
/// frames carry a batch of <c>ReplicaRequest</c>s, the receiver answers each with the batch's replies under the same
/// id, or with <see cref="FrameKind.Failed"/> and a message.
/// </summary>
internal static class DirectFrames
{
    public const int HeaderLength = 16;

    /// <summary>A hello's body at most: two silo addresses.</summary>
    public const int MaxHello = 1024;

    /// <summary>A frame's body at most: well above <c>OutboundBatches.MaxBatch</c> requests of the largest value.</summary>
    public const int MaxBody = 64 << 20;

    /// <summary>"CRT1": coordination replica transport, version 1. A listener closes a connection that starts otherwise.</summary>
    public static ReadOnlySpan<byte> Magic => "CRT1"u8;

    public static byte[] Frame(long id, FrameKind kind, ReadOnlySpan<byte> body) => Frames.Frame(id, (int)kind, body);

    /// <summary>The bytes a connection starts with: the magic and a hello frame from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static byte[] Hello(ReplicaId from, ReplicaId to)
    {
        var frame = Frame(0, FrameKind.Hello, Encoding.UTF8.GetBytes($"{from.Value}\n{to.Value}"));
        return [.. Magic, .. frame];
    }

    /// <summary>
    /// Reads the magic and the hello frame; null when the connection does not start as this transport's does.
    /// Blocking, as every read of this transport is: each connection has a thread of its own (see
    /// <see cref="DirectConnection"/>).
    /// </summary>
    public static (ReplicaId From, ReplicaId To)? ReadHello(Stream stream)
    {
        var magic = new byte[Magic.Length];
        stream.ReadExactly(magic);
        if (!magic.AsSpan().SequenceEqual(Magic))
        {
            return null;
        }

        if (Read(stream, new byte[HeaderLength], MaxHello) is not { Kind: FrameKind.Hello } frame)
        {
            return null;
        }

        var parts = Encoding.UTF8.GetString(frame.Body.Span).Split('\n');
        return parts.Length == 2 ? (new ReplicaId(parts[0]), new ReplicaId(parts[1])) : null;
    }

    /// <summary>Reads one frame into a body of its own (see <see cref="Frames.Read(Stream, byte[], int)"/>).</summary>
    public static ReplicaFrame? Read(Stream stream, byte[] header, int maxBody = MaxBody) => Of(Frames.Read(stream, header, maxBody));

    /// <summary>Reads one frame into <paramref name="scratch"/>'s buffers (see <see cref="Frames.Read(Stream, FrameScratch, int)"/>).</summary>
    public static ReplicaFrame? Read(Stream stream, FrameScratch scratch, int maxBody = MaxBody) => Of(Frames.Read(stream, scratch, maxBody));

    /// <summary>Writes a frame into <paramref name="scratch"/>'s output buffer (see <see cref="Frames.Write"/>).</summary>
    public static ReadOnlyMemory<byte> Write<T>(FrameScratch scratch, long id, FrameKind kind, T body, Serializer serializer) =>
        Frames.Write(scratch, id, (int)kind, body, serializer);

    private static ReplicaFrame? Of(Frame? frame) => frame is { } f ? new ReplicaFrame(f.Id, (FrameKind)f.Kind, f.Body) : null;
}

internal enum FrameKind
{
    Hello = 0,
    Batch = 1,
    Failed = 2,
}

internal readonly record struct ReplicaFrame(long Id, FrameKind Kind, ReadOnlyMemory<byte> Body);
