using System.Security.Cryptography;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Options;

namespace Coordination.Replication.Hosting;

/// <summary>Creates register proposers wired to this silo's directory and transport. Each proposer gets a random, non-zero id.</summary>
public sealed class RegisterFactory
{
    private readonly IPartitionDirectory _directory;
    private readonly IReplicaTransport _transport;
    private readonly TimeProvider _time;
    private readonly ProposerOptions _options;

    internal RegisterFactory(IPartitionDirectory directory, IReplicaTransport transport, TimeProvider time, IOptions<ReplicationOptions> options, ProposerOptions? overrides = null)
    {
        _directory = directory;
        _transport = transport;
        _time = time;
        _options = overrides ?? options.Value.ToProposerOptions();
    }

    public RegisterProposer<TValue> Create<TValue>(string key) where TValue : class =>
        new(key, _directory, _transport, _time, _options, NewProposerId());

    private static long NewProposerId()
    {
        long id;
        do
        {
            id = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8));
        }
        while (id == 0);

        return id;
    }
}
