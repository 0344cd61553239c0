namespace Strata.EndToEnd.Tests.Harness;

/// <summary>Where the repository and the strata executable are.</summary>
public static class Repo
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Strata.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no Strata.slnx above {AppContext.BaseDirectory}: run the tests from the repository");
    });

    public static string Root => s_root.Value;

    /// <summary>The published CLI; bin/test (or bin/strata) builds it before the tests run.</summary>
    public static string StrataExe
    {
        get
        {
            string exe = Path.Combine(Root, "artifacts", "cli", "strata");
            if (!File.Exists(exe))
                throw new InvalidOperationException(
                    $"{exe} is missing: build it with `bin/strata version` (bin/test does this before running the tests)");
            return exe;
        }
    }
}
