namespace Coordination.Client;

/// <summary>
/// Orleans' membership as one silo sees it: the JSON each silo serves at <c>/api/orleans-membership</c>.
/// One type for the silo host that writes it, <see cref="LocalClusterGatewayListProvider"/> and the test kit
/// that read it.
/// </summary>
/// <param name="Self">The answering silo's address (its parsable form).</param>
internal sealed record OrleansMembershipView(string Self, IReadOnlyList<OrleansMemberStatus> Members);

/// <summary>One member of Orleans' membership and its status there (Joining, Active, ShuttingDown, Stopping, Dead).</summary>
internal sealed record OrleansMemberStatus(string Member, string Status);
