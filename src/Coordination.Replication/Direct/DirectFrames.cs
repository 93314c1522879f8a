using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
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

    public static byte[] Frame(long id, FrameKind kind, ReadOnlySpan<byte> body)
    {
        var frame = new byte[HeaderLength + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, body.Length);
        BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(4), id);
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(12), (int)kind);
        body.CopyTo(frame.AsSpan(HeaderLength));
        return frame;
    }

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

    /// <summary>Reads one frame (<paramref name="header"/> is a scratch buffer of <see cref="HeaderLength"/>) into a body of its own; null at the end of the stream; a longer body than <paramref name="maxBody"/> is bad input.</summary>
    public static ReplicaFrame? Read(Stream stream, byte[] header, int maxBody = MaxBody) =>
        ReadHeader(stream, header, maxBody) is var (length, id, kind) ? new ReplicaFrame(id, kind, ReadBody(stream, new byte[length])) : null;

    /// <summary>
    /// Reads one frame into <paramref name="scratch"/>'s buffers: its body is valid until the next read with the same
    /// scratch (what reads it deserializes or decodes it before reading on). Null at the end of the stream.
    /// </summary>
    public static ReplicaFrame? Read(Stream stream, FrameScratch scratch, int maxBody = MaxBody) =>
        ReadHeader(stream, scratch.Header, maxBody) is var (length, id, kind) ? new ReplicaFrame(id, kind, ReadBody(stream, scratch.Input(length))) : null;

    /// <summary>
    /// Writes a frame of <paramref name="kind"/> whose body is <paramref name="body"/> serialized into
    /// <paramref name="scratch"/>'s output buffer, and returns the whole frame, valid until the next write with the same
    /// scratch: no array of its own per frame, where a batch and its reply each made two (the body, then the frame).
    /// </summary>
    public static ReadOnlyMemory<byte> Write<T>(FrameScratch scratch, long id, FrameKind kind, T body, Serializer serializer)
    {
        var output = scratch.Output();
        output.Advance(HeaderLength);
        serializer.Serialize(body, output);
        var frame = output.WrittenMemory;

        // The header goes in last, when the body's length is known (and the buffer no longer moves as it grows).
        var start = MemoryMarshal.AsMemory(frame).Span;
        BinaryPrimitives.WriteInt32LittleEndian(start, frame.Length - HeaderLength);
        BinaryPrimitives.WriteInt64LittleEndian(start[4..], id);
        BinaryPrimitives.WriteInt32LittleEndian(start[12..], (int)kind);
        return frame;
    }

    /// <summary>Writes <paramref name="frame"/> by its array (an <see cref="System.Net.Security.SslStream"/> would copy a span into a rented array first).</summary>
    public static void WriteTo(Stream stream, ReadOnlyMemory<byte> frame)
    {
        if (MemoryMarshal.TryGetArray(frame, out var segment))
        {
            stream.Write(segment.Array!, segment.Offset, segment.Count);
        }
        else
        {
            stream.Write(frame.Span);
        }
    }

    private static (int Length, long Id, FrameKind Kind)? ReadHeader(Stream stream, byte[] header, int maxBody)
    {
        var read = stream.ReadAtLeast(header, HeaderLength, throwOnEndOfStream: false);
        if (read == 0)
        {
            return null;
        }

        if (read < HeaderLength)
        {
            throw new EndOfStreamException("The replica connection ended inside a frame header.");
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 0 || length > maxBody)
        {
            throw new InvalidDataException($"A replica frame claims a body of {length} bytes (at most {maxBody}).");
        }

        return (length, BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(4)), (FrameKind)BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12)));
    }

    private static ReadOnlyMemory<byte> ReadBody(Stream stream, Memory<byte> body)
    {
        stream.ReadExactly(body.Span);
        return body;
    }
}

/// <summary>
/// One connection end's reusable frame buffers: the input is its reading thread's, the output its writer's (one at a
/// time: under the connection's write lock, or on the listener's thread that also reads). Each grows to the largest
/// frame it carried, up to <see cref="MaxKept"/>: a larger frame read gets an array of its own, and an output buffer
/// grown past it goes once its frame is sent or declined, so a connection end keeps at most twice
/// <see cref="MaxKept"/>, and a few KiB in steady use.
/// </summary>
internal sealed class FrameScratch
{
    /// <summary>Most bytes a buffer keeps between frames: the most a connection leaves unanswered (<see cref="DirectConnection.MaxUnanswered"/>).</summary>
    public const int MaxKept = DirectConnection.MaxUnanswered;

    private byte[] _input = [];
    private ArrayBufferWriter<byte> _output = new(4096);

    public byte[] Header { get; } = new byte[DirectFrames.HeaderLength];

    /// <summary>A body buffer of <paramref name="length"/> bytes.</summary>
    public Memory<byte> Input(int length)
    {
        if (length > MaxKept)
        {
            return new byte[length];
        }

        if (_input.Length < length)
        {
            _input = new byte[Math.Max(length, Math.Min(MaxKept, _input.Length * 2))];
        }

        return _input.AsMemory(0, length);
    }

    /// <summary>The output buffer, emptied.</summary>
    public ArrayBufferWriter<byte> Output()
    {
        TrimOutput();
        _output.ResetWrittenCount();
        return _output;
    }

    /// <summary>
    /// Once the frame written last is sent or declined: lets an output buffer grown past <see cref="MaxKept"/> go now
    /// (a batch that large is declined; a reply can be that large), not at the connection's next write, which may never
    /// come.
    /// </summary>
    public void TrimOutput()
    {
        if (_output.Capacity > MaxKept)
        {
            _output = new ArrayBufferWriter<byte>(4096);
        }
    }
}

internal enum FrameKind
{
    Hello = 0,
    Batch = 1,
    Failed = 2,
}

internal readonly record struct ReplicaFrame(long Id, FrameKind Kind, ReadOnlyMemory<byte> Body);
