using Strata.Control.Api;
using Strata.Control.Nodes;
using Strata.Replication.Volume;

namespace Strata.Node.Hosting;

/// <summary>A volume's in-sync set in the control plane's store, changed through its API by the target on this node.</summary>
internal sealed class ControlMembershipStore(ControlClient client, string node, string volume) : IMembershipStore
{
    public async Task<IReadOnlyList<string>> CompareAndSetInSyncAsync(long epoch, IReadOnlyList<string> expected, IReadOnlyList<string> inSync, CancellationToken ct)
    {
        try
        {
            var result = await client.ChangeInSyncAsync(node, volume, new InSyncChange(epoch, [.. expected], [.. inSync]), ct).ConfigureAwait(false);
            return result.InSync;
        }
        catch (ControlClientException e) when (e.Status == 409)
        {
            throw new MembershipFencedException(e.Message);
        }
        catch (ControlClientException e)
        {
            throw new MembershipUnavailableException($"the control plane could not record it: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new MembershipUnavailableException("the control plane did not answer in time", e);
        }
    }
}
