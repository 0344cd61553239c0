using System.CommandLine;
using System.Reflection;

namespace Strata.Cli;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the version of strata.");
        command.SetAction(_ =>
        {
            var version = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            Console.WriteLine($"strata {version}");
        });
        return command;
    }
}
