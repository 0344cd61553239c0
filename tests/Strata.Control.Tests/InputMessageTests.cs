using Strata.Control.Manifests;
using Xunit;

namespace Strata.Control.Tests;

/// <summary>Messages for bad input that used to be unclear: an unclosed quote, a name that is only too long.</summary>
public class InputMessageTests
{
    private const string Claim = """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: mongo-pvc
        spec:
          accessModes: [ReadWriteOnce]
          storageClassName: openebs-sparse-sc
          resources:
            requests:
              storage: 1Gi
        """;

    private static string Message(string text)
    {
        string message = Assert.Throws<ManifestException>(() => ManifestParser.Parse(text, "x.yaml")).Message;
        Assert.DoesNotContain('\n', message);
        return message;
    }

    [Theory]
    [InlineData("name: \"mongo-pvc", 4)] // the next lines read as the rest of a multi-line quoted value
    [InlineData("name: 'mongo-pvc", 4)]
    [InlineData("storage: \"1Gi", 10)] // at the end of the file
    public void An_unclosed_quote_is_named_at_its_line(string broken, int line)
    {
        string text = Claim.Replace(broken.Split(' ')[0] + " " + broken.Split(' ')[1][1..], broken, StringComparison.Ordinal);
        Assert.NotEqual(Claim, text);
        Assert.Equal($"x.yaml: line {line}: a quoted value is not closed (its closing quote is missing)", Message(text));
    }

    [Fact]
    public void A_name_that_is_only_too_long_says_so()
    {
        string name = new('a', 300);
        Assert.Equal(
            $"x.yaml (PersistentVolumeClaim {name}): metadata.name: '{name}' is not a valid name: it is 300 characters long, and a name is at most 253",
            Message(Claim.Replace("name: mongo-pvc", "name: " + name, StringComparison.Ordinal)));
    }
}
