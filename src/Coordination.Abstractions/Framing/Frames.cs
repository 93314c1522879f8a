using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Orleans.Serialization;

namespace Coordination.Framing;

/// <summary>
/// The framing shared by our own TCP transports (silo to silo for replica batches, client to gateway silo for lock
/// calls): after a transport's own greeting, every frame is a 16-byte header (body length, correlation id, kind;
/// little-endian) and a body, Orleans-serialized by the transport. Reads block: each connection end that reads has a
/// thread of its own (a reply then wakes that thread alone, not the socket engine's and a worker's).
/// </summary>
internal static class Frames
{
    public const int HeaderLength = 16;

    public static byte[] Frame(long id, int kind, ReadOnlySpan<byte> body)
    {
        var frame = new byte[HeaderLength + body.Length];
        WriteHeader(frame, body.Length, id, kind);
        body.CopyTo(frame.AsSpan(HeaderLength));
        return frame;
    }

    /// <summary>Reads one frame (<paramref name="header"/> is a scratch buffer of <see cref="HeaderLength"/>) into a body of its own; null at the end of the stream; a longer body than <paramref name="maxBody"/> is bad input.</summary>
    public static Frame? Read(Stream stream, byte[] header, int maxBody) =>
        ReadHeader(stream, header, maxBody) is var (length, id, kind) ? new Frame(id, kind, ReadBody(stream, new byte[length])) : null;

    /// <summary>
    /// Reads one frame into <paramref name="scratch"/>'s buffers: its body is valid until the next read with the same
    /// scratch (what reads it deserializes or decodes it before reading on). Null at the end of the stream.
    /// </summary>
    public static Frame? Read(Stream stream, FrameScratch scratch, int maxBody) =>
        ReadHeader(stream, scratch.Header, maxBody) is var (length, id, kind) ? new Frame(id, kind, ReadBody(stream, scratch.Input(length))) : null;

    /// <summary>
    /// Writes a frame of <paramref name="kind"/> whose body is <paramref name="body"/> serialized into
    /// <paramref name="scratch"/>'s output buffer, and returns the whole frame, valid until the next write with the same
    /// scratch: no array of its own per frame, where a batch and its reply each made two (the body, then the frame).
    /// </summary>
    public static ReadOnlyMemory<byte> Write<T>(FrameScratch scratch, long id, int kind, T body, Serializer serializer)
    {
        var output = scratch.Output();
        output.Advance(HeaderLength);
        serializer.Serialize(body, output);
        var frame = output.WrittenMemory;

        // The header goes in last, when the body's length is known (and the buffer no longer moves as it grows).
        WriteHeader(MemoryMarshal.AsMemory(frame).Span, frame.Length - HeaderLength, id, kind);
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

    private static void WriteHeader(Span<byte> start, int length, long id, int kind)
    {
        BinaryPrimitives.WriteInt32LittleEndian(start, length);
        BinaryPrimitives.WriteInt64LittleEndian(start[4..], id);
        BinaryPrimitives.WriteInt32LittleEndian(start[12..], kind);
    }

    private static (int Length, long Id, int Kind)? ReadHeader(Stream stream, byte[] header, int maxBody)
    {
        var read = stream.ReadAtLeast(header, HeaderLength, throwOnEndOfStream: false);
        if (read == 0)
        {
            return null;
        }

        if (read < HeaderLength)
        {
            throw new EndOfStreamException("The connection ended inside a frame header.");
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 0 || length > maxBody)
        {
            throw new InvalidDataException($"A frame claims a body of {length} bytes (at most {maxBody}).");
        }

        return (length, BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(4)), BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12)));
    }

    private static ReadOnlyMemory<byte> ReadBody(Stream stream, Memory<byte> body)
    {
        stream.ReadExactly(body.Span);
        return body;
    }
}

/// <summary>One frame as read: its correlation id, its transport's kind number, and its body.</summary>
internal readonly record struct Frame(long Id, int Kind, ReadOnlyMemory<byte> Body);
