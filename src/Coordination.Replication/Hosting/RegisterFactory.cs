using System.Security.Cryptography;
using Coordination.Replication.Faults;
using Coordination.Replication.Protocol;
using Microsoft.Extensions.Options;

namespace Coordination.Replication.Hosting;

/// <summary>
/// Creates the register of a key, wired to this silo's directory and transport: a
/// <see cref="RegisterProposer{TValue}"/> with a random, non-zero id. Only when the silo host set
/// <see cref="UnsafeControl.LeaseOnly"/> (a fault-suite control) is it the broken <see cref="LeaseOnlyRegister{TValue}"/>.
/// </summary>
internal sealed class RegisterFactory
{
    private readonly IPartitionDirectory _directory;
    private readonly IReplicaTransport _transport;
    private readonly TimeProvider _time;
    private readonly ProposerOptions _options;
    private readonly bool _leaseOnly;
    private readonly BallotHints _hints;
    private readonly RoundTargets _targets;
    private readonly HedgeTimer? _hedges;

    internal RegisterFactory(IPartitionDirectory directory, IReplicaTransport transport, TimeProvider time, IOptions<ReplicationOptions> options, ProposerOptions? overrides = null, BallotHints? hints = null)
    {
        _hints = hints ?? new BallotHints();
        _directory = directory;
        _transport = transport;
        _time = time;
        _options = overrides ?? options.Value.ToProposerOptions();
        _leaseOnly = options.Value.Unsafe == UnsafeControl.LeaseOnly;
        _targets = new RoundTargets(time, transport?.Self);
        _hedges = _options.HedgeDelay is { } delay && delay > TimeSpan.Zero ? new HedgeTimer(time, delay) : null;
    }

    /// <param name="key">The register's key.</param>
    /// <param name="maxBatch">
    /// At most this many changes in one accept, below the configured batch: a register that remembers the request ids
    /// of its last N changes passes N, so that a batch chosen behind a failed round is still remembered whole when its
    /// changes are applied again (see <c>ProposedRevisions</c> in the grains).
    /// </param>
    public IRegister<TValue> Create<TValue>(string key, int maxBatch = int.MaxValue) where TValue : class
    {
        var options = maxBatch < _options.MaxBatch ? _options with { MaxBatch = Math.Max(1, maxBatch) } : _options;
        return _leaseOnly
            ? new LeaseOnlyRegister<TValue>(key, _directory, _time, options)
            : new RegisterProposer<TValue>(key, _directory, _transport, _time, options, ReplicationFaults.None, NewProposerId(), hints: _hints, targets: _targets, hedges: _hedges);
    }

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
