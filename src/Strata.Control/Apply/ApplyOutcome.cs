namespace Strata.Control.Apply;

/// <summary>What applying one resource did, as kubectl says it: "storagepoolclaim.openebs.io/cstor-pool created".</summary>
public sealed record ApplyOutcome(string Kind, string Name, string Action)
{
    public override string ToString() => $"{Kind}/{Name} {Action}";
}
