namespace Strata.Control.Reconcile;

/// <summary>Drives one kind of resource's status toward its spec, from one <see cref="ClusterView"/>.</summary>
public interface IReconciler
{
    /// <summary>One pass. Writes are compare-and-swaps; a lost race is left to the next pass, which sees the winner's write.</summary>
    Task ReconcileAsync(ClusterView view, ReconcileContext context, CancellationToken ct);
}
