using Strata.Control.Resources;
using Strata.Control.Store;

namespace Strata.Control.Reconcile;

/// <summary>What reconcilers write with: the typed store, the event recorder and a way to ask for another pass.</summary>
public sealed class ReconcileContext(ResourceStore resources, EventRecorder events, Action<string> log)
{
    public ResourceStore Resources { get; } = resources;

    public EventRecorder Events { get; } = events;

    /// <summary>Set when a write lost a race or left work for a later pass.</summary>
    public bool Requeue { get; set; }

    public void Log(string message) => log(message);

    /// <summary>Writes <paramref name="resource"/>; on a conflict asks for another pass instead of failing.</summary>
    public async Task<bool> UpdateAsync(Resource resource, CancellationToken ct)
    {
        if (await Resources.UpdateAsync(resource, ct).ConfigureAwait(false))
        {
            return true;
        }

        Requeue = true;
        return false;
    }

    public Task EventAsync(Resource about, string reason, string message, CancellationToken ct, bool warning = false) =>
        Events.RecordAsync(about, warning ? "Warning" : "Normal", reason, message, ct);
}
