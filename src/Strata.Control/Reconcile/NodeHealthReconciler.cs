using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>
/// A node is Ready while its lease lives. When it lapses the node is NotReady and everything it hosts is Offline,
/// with a condition naming the node; the node's own reports bring them back when it returns.
/// </summary>
public sealed class NodeHealthReconciler : IReconciler
{
    /// <summary>The Ready condition's reason when the agent gave its lease back as it shut down.</summary>
    public const string StoppedReason = "NodeStopped";

    public async Task ReconcileAsync(ClusterView view, ReconcileContext context, CancellationToken ct)
    {
        foreach (var node in view.Nodes)
        {
            string name = node.Metadata.Name;
            bool ready = view.IsReady(name);
            string phase = ready ? "Ready" : "NotReady";
            var conditions = node.Status.Conditions;
            bool stopped = !ready && Conditions.Find(conditions, "Ready")?.Reason == StoppedReason; // said by the agent itself as it stopped
            bool changed = !stopped && Conditions.Set(ref conditions, "Ready", ready,
                ready ? "NodeLeaseRenewed" : "NodeLeaseExpired",
                ready ? "the node agent renews its lease" : "the node agent stopped renewing its lease (it is down, or cut off from the control plane)");
            node.Status.Conditions = conditions;
            if (node.Status.Phase != phase)
            {
                node.Status.Phase = phase;
                changed = true;
                context.Log($"node {name} is {phase}");
                await context.EventAsync(node, ready ? "NodeReady" : "NodeNotReady",
                    ready ? $"node {name} is Ready" : stopped ? $"node {name} is NotReady: its agent was stopped" : $"node {name} is NotReady: its lease expired", ct, warning: !ready).ConfigureAwait(false);
            }

            if (changed)
            {
                await context.UpdateAsync(node, ct).ConfigureAwait(false);
            }

            if (!ready)
            {
                await MarkOfflineAsync(view, name, context, ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task MarkOfflineAsync(ClusterView view, string node, ReconcileContext context, CancellationToken ct)
    {
        string why = $"node {node} is NotReady: its agent stopped renewing its lease";
        foreach (var pool in view.Pools.Where(p => p.Spec.Node == node && p.Status.Phase != "Offline"))
        {
            pool.Status.Phase = "Offline";
            var c = pool.Status.Conditions;
            Conditions.Set(ref c, "NodeReady", false, "NodeNotReady", why);
            pool.Status.Conditions = c;
            if (await context.UpdateAsync(pool, ct).ConfigureAwait(false))
            {
                await context.EventAsync(pool, "Offline", why, ct, warning: true).ConfigureAwait(false);
            }
        }

        foreach (var replica in view.Replicas.Where(r => r.Spec.Node == node && r.Status.Phase != "Offline"))
        {
            replica.Status.Phase = "Offline";
            var c = replica.Status.Conditions;
            Conditions.Set(ref c, "NodeReady", false, "NodeNotReady", why);
            replica.Status.Conditions = c;
            if (await context.UpdateAsync(replica, ct).ConfigureAwait(false))
            {
                await context.EventAsync(replica, "Offline", why, ct, warning: true).ConfigureAwait(false);
            }
        }

        foreach (var disk in view.BlockDevices.Where(d => d.Spec.Node == node && d.Status.State != "Unknown"))
        {
            disk.Status.State = "Unknown";
            await context.UpdateAsync(disk, ct).ConfigureAwait(false);
        }
    }
}
