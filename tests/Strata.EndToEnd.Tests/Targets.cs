using Xunit;

namespace Strata.EndToEnd.Tests;

/// <summary>The targets a test runs against: Strata, and Debian's tgt as the control that proves the harness
/// and the client (a test that fails on both is the harness's or the machine's problem, not Strata's).</summary>
public static class Targets
{
    public const string Strata = "strata";
    public const string Tgt = "tgt";

    /// <summary>Strata serving a thin volume of a pool (the pool engine under the target) instead of a file.</summary>
    public const string StrataPool = "strata-pool";

    public static TheoryData<string> Both => new() { Strata, Tgt };
}
