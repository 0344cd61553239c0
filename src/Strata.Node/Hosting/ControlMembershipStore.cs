using Strata.Control.Api;
using Strata.Control.Nodes;
using Strata.Replication.Volume;

namespace Strata.Node.Hosting;

/// <summary>A volume's in-sync set in the control plane's store, changed through its API by the target on this node.</summary>
internal sealed class ControlMembershipStore(ControlClient client, string node, string volume) : IMembershipStore
{
    public Task<IReadOnlyList<string>> CompareAndSetInSyncAsync(long epoch, IReadOnlyList<string> expected, IReadOnlyList<string> inSync, CancellationToken ct) =>
        CallAsync<IReadOnlyList<string>>(async () => (await client.ChangeInSyncAsync(node, volume, new InSyncChange(epoch, [.. expected], [.. inSync]), ct).ConfigureAwait(false)).InSync, ct);

    public Task SetRebuildCheckpointAsync(long epoch, string replica, long? copiedBytes, CancellationToken ct) =>
        CallAsync(async () =>
        {
            await client.SetRebuildCheckpointAsync(node, volume, new RebuildCheckpointChange(epoch, replica, copiedBytes), ct).ConfigureAwait(false);
            return true;
        }, ct);

    /// <summary>A call to the control plane, its errors as the membership store's: 409 is fenced, anything else unavailable.</summary>
    private static async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken ct)
    {
        try
        {
            return await call().ConfigureAwait(false);
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
