namespace Strata.Control.Tests;

/// <summary>The repository the tests run from: the directory holding Strata.slnx above the test binaries.</summary>
internal static class Repo
{
    public static string Root { get; } = Find();

    public static string ReadText(string relativePath) => File.ReadAllText(Path.Combine(Root, relativePath));

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Strata.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Strata.slnx above {AppContext.BaseDirectory}: run the tests from the repository");
    }
}
