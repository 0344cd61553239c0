using Strata.Control.Resources;

namespace Strata.Control.Reconcile;

/// <summary>Sets conditions the Kubernetes way: the transition time moves only when the status does.</summary>
public static class Conditions
{
    /// <summary>Sets the condition; true when anything changed.</summary>
    public static bool Set(ref List<Condition>? conditions, string type, bool holds, string reason, string message)
    {
        conditions ??= [];
        string status = holds ? "True" : "False";
        var existing = conditions.FirstOrDefault(c => c.Type == type);
        if (existing is null)
        {
            conditions.Add(new Condition { Type = type, Status = status, Reason = reason, Message = message, LastTransitionTime = DateTimeOffset.UtcNow });
            return true;
        }

        if (existing.Status == status && existing.Reason == reason && existing.Message == message)
        {
            return false;
        }

        if (existing.Status != status)
        {
            existing.LastTransitionTime = DateTimeOffset.UtcNow;
        }

        existing.Status = status;
        existing.Reason = reason;
        existing.Message = message;
        return true;
    }

    /// <summary>Removes the condition; true when there was one.</summary>
    public static bool Remove(ref List<Condition>? conditions, string type) => conditions?.RemoveAll(c => c.Type == type) > 0;

    public static Condition? Find(List<Condition>? conditions, string type) => conditions?.FirstOrDefault(c => c.Type == type);
}
