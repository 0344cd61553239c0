using Xunit;

namespace Strata.Cli.Tests;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("1G", 1L << 30)]
    [InlineData("1Gi", 1L << 30)]
    [InlineData("512M", 512L << 20)]
    [InlineData("64k", 64L << 10)]
    [InlineData("2TiB", 2L << 40)]
    [InlineData("4096", 4096)]
    [InlineData("10b", 10)]
    public void Parses_what_users_write(string text, long expected)
    {
        Assert.True(ByteSize.TryParse(text, out long bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("G")]
    [InlineData("-1G")]
    [InlineData("1.5G")]
    [InlineData("1X")]
    [InlineData("99999999999999999999")]
    [InlineData("9999999999T")]
    public void Refuses_what_is_not_a_size(string text)
    {
        Assert.False(ByteSize.TryParse(text, out _));
    }

    [Theory]
    [InlineData(512, "512 B")]
    [InlineData(1L << 30, "1 GiB")]
    [InlineData(1536L << 20, "1.5 GiB")]
    public void Formats_in_binary_units(long bytes, string expected)
    {
        Assert.Equal(expected, ByteSize.Format(bytes));
    }
}
