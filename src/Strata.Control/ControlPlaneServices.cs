using Strata.Control.Apply;
using Strata.Control.Nodes;
using Strata.Control.Reconcile;
using Strata.Control.Store;
using Strata.State;

namespace Strata.Control;

/// <summary>The control plane's parts over one store: what the API calls into and what runs in the background.</summary>
public sealed class ControlPlaneServices
{
    public static readonly string Version =
        typeof(ControlPlaneServices).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <param name="replaceReplicaAfter">How long a replica's node may be NotReady before the replica is replaced (zero: never).</param>
    public ControlPlaneServices(IStore store, Action<string> log, TimeSpan? nodeLeaseTtl = null, TimeSpan? replaceReplicaAfter = null)
    {
        Store = store;
        Resources = new ResourceStore(store);
        Events = new EventRecorder(store, "control-plane");
        Changes = new ChangeNotifier(store, log);
        Loop = new ReconcileLoop(store, ReconcileLoop.Default(replaceReplicaAfter), log);
        Nodes = new NodeRegistry(store, Changes, log) { LeaseTtl = nodeLeaseTtl ?? TimeSpan.FromSeconds(6) };
        Apply = new ApplyService(store, Loop.Wake);
        Membership = new VolumeMembership(store, log);
    }

    public IStore Store { get; }

    public ResourceStore Resources { get; }

    public EventRecorder Events { get; }

    public ChangeNotifier Changes { get; }

    public ReconcileLoop Loop { get; }

    public NodeRegistry Nodes { get; }

    public ApplyService Apply { get; }

    public VolumeMembership Membership { get; }

    /// <summary>The targets' latest I/O counters, from the node reports (in memory, not in the store).</summary>
    public VolumeIoSamples IoSamples { get; } = new();

    public void Wake() => Loop.Wake();
}
