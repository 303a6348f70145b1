using System.Globalization;
using System.Text.Json;
using static GuestAgent.Protocol.Args.ArgsReader;

namespace GuestAgent.Protocol.Args;

public static partial class StandardArgs
{
    public static CredentialsArgs ReadCredentialsArgs(JsonElement args)
    {
        var command = Optional(args, "command_queue_signature") is { } c ? ReadPreSigned(c, "args.command_queue_signature") : null;
        var reply = Optional(args, "reply_queue_signature") is { } r ? ReadPreSigned(r, "args.reply_queue_signature") : null;
        if (command is null && reply is null)
        {
            throw new ArgsRejectedException(RejectCodes.MissingField, "args.command_queue_signature",
                "credentials needs args.command_queue_signature, args.reply_queue_signature or both.");
        }
        return new CredentialsArgs(command, reply);
    }

    /// <summary>A pre-signed URL block as Zaqar's share call returns it; whether it fits the binding is the agent's check.</summary>
    private static PreSignedBlock ReadPreSigned(JsonElement e, string path)
    {
        RequireObject(e, path);
        IReadOnlyList<string> List(string name)
        {
            var at = $"{path}.{name}";
            var list = Required(e, name, at);
            if (list.ValueKind != JsonValueKind.Array)
            {
                throw WrongType(at, "an array of strings", list);
            }
            var items = new List<string>();
            var i = 0;
            foreach (var item in list.EnumerateArray())
            {
                items.Add(ReadCleanString(item, $"{at}[{i++}]", allowEmpty: false));
            }
            if (items.Count is 0 or > PreSignedBlock.MaxEntries)
            {
                throw Invalid(at, $"{at} must list 1 to {PreSignedBlock.MaxEntries} entries.");
            }
            return items;
        }
        var paths = List("paths");
        var methods = List("methods");
        var expires = ReadString(Required(e, "expires", $"{path}.expires"), $"{path}.expires");
        if (!DateTimeOffset.TryParseExact(expires, PreSignedBlock.ExpiresFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal, out _))
        {
            throw Invalid($"{path}.expires", $"{path}.expires must be a UTC time as Zaqar writes it (yyyy-MM-ddTHH:mm:ss).");
        }
        var signature = ReadString(Required(e, "signature", $"{path}.signature"), $"{path}.signature");
        if (signature.Length is 0 or > 128 || !signature.All(Uri.IsHexDigit))
        {
            throw Invalid($"{path}.signature", $"{path}.signature must be the hex HMAC Zaqar's share call returned.");
        }
        var project = Optional(e, "project") is { } p ? ReadCleanString(p, $"{path}.project", allowEmpty: false) : null;
        return new PreSignedBlock(paths, methods, expires, signature, project);
    }
}
