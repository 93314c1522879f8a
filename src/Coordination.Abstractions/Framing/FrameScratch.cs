using System.Buffers;

namespace Coordination.Framing;

/// <summary>
/// One connection end's reusable frame buffers: the input is its reading thread's, the output its writer's (one at a
/// time: under the connection's write lock, or on the listener's thread that also reads). Each grows to the largest
/// frame it carried, up to <see cref="MaxKept"/>: a larger frame read gets an array of its own, and an output buffer
/// grown past it goes once its frame is sent or declined, so a connection end keeps at most twice
/// <see cref="MaxKept"/>, and a few KiB in steady use.
/// </summary>
internal sealed class FrameScratch
{
    /// <summary>Most bytes a buffer keeps between frames: the most a connection leaves unanswered (a replica connection's <c>MaxUnanswered</c>).</summary>
    public const int MaxKept = 256 << 10;

    private byte[] _input = [];
    private ArrayBufferWriter<byte> _output = new(4096);

    public byte[] Header { get; } = new byte[Frames.HeaderLength];

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
