namespace Strata.Iscsi.Login;

/// <summary>One key=value pair of a text data segment (RFC 7143 6.1).</summary>
public readonly record struct TextKeyValue(string Key, string Value)
{
    public override string ToString() => $"{Key}={Value}";
}
