using Coordination.Lanes;

namespace Coordination.Grains.Lanes;

/// <summary>Fault injection for tests: a client lane call whose reply is lost after its grain call ran, as a dropped response would be.</summary>
internal interface ILaneFaults
{
    bool LosesReplyTo(LaneCall call);
}
