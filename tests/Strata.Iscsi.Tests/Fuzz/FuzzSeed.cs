using System.Globalization;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>
/// The fuzzer's knobs, from the environment so a failure replays exactly:
/// <c>STRATA_FUZZ_SEED</c> (the run's seed; a fixed one when unset, so every run of the suite is the same run;
/// set it to a new value, e.g. <c>$RANDOM</c>, to explore), <c>STRATA_FUZZ_EPISODE</c> (run only this
/// connection of that seed), <c>STRATA_FUZZ_PDUS</c> (how many malformed PDUs a run sends, default 100000).
/// </summary>
internal static class FuzzSeed
{
    public const int DefaultSeed = 20261126;

    public static int Seed { get; } = Read("STRATA_FUZZ_SEED") ?? DefaultSeed;

    public static int? Episode { get; } = Read("STRATA_FUZZ_EPISODE");

    public static int PduBudget { get; } = Read("STRATA_FUZZ_PDUS") ?? 100_000;

    /// <summary>Each episode (one connection) has its own generator, so it replays alone (no HashCode: it is
    /// randomized per process).</summary>
    public static Random ForEpisode(int episode) => new(unchecked((Seed * 1_000_003) + (episode * 7919) + 17));

    public static string ReplayHint(int episode) =>
        $"replay: STRATA_FUZZ_SEED={Seed} STRATA_FUZZ_EPISODE={episode} dotnet test tests/Strata.Iscsi.Tests --filter FullyQualifiedName~Fuzz.PduFuzzTests";

    private static int? Read(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;
}
