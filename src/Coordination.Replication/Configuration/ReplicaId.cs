using System.Text.Json.Serialization;
namespace Coordination.Replication.Configuration;

/// <summary>
/// The identity of a replica: one silo incarnation (address and generation). A restarted silo is a new
/// replica, so it can never vote with state it has lost; it joins configurations as a recovering member.
/// </summary>
[GenerateSerializer, Immutable, Alias("coord.ReplicaId")]
public readonly record struct ReplicaId(string Value) : IComparable<ReplicaId>
{
    public int CompareTo(ReplicaId other) => string.CompareOrdinal(Value, other.Value);

    /// <summary>The host part of the id, used to spread replicas of one key over distinct hosts.</summary>
    [JsonIgnore]
    public string Host
    {
        get
        {
            var colon = Value.LastIndexOf(':');
            return colon > 0 ? Value[..colon] : Value;
        }
    }

    public override string ToString() => Value;
}
