using System.CommandLine;
using Strata.Cli;
using Strata.Cli.Cluster;
using Strata.Cli.Resources;
using Strata.Cli.Iscsi;
using Strata.Cli.Pool;
using Strata.Cli.Volumes;

var root = new RootCommand("Strata: replicated block storage for containers, served over iSCSI.")
{
    UpCommand.Create(),
    ControlCommand.Create(),
    NodeCommand.Create(),
    ApplyCommand.Create(),
    GetCommand.Create(),
    DescribeCommand.Create(),
    DeleteCommand.Create(),
    VolumeCommand.Create(),
    IscsiCommand.Create(),
    PoolCommand.Create(),
    VersionCommand.Create(),
};

// Tables piped to a file or another program keep one line per row, like kubectl's, whatever their width.
if (Console.IsOutputRedirected)
{
    Spectre.Console.AnsiConsole.Profile.Width = 1000;
}

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One clear line and a non-zero exit code; --help shows the usage.
    var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
    Console.Error.WriteLine($"strata: {error.Message} (see strata {string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')))} --help)");
    return 2;
}

return await parse.InvokeAsync();
