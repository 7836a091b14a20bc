"""Labelled examples for every rule: true positives built at run time, and hard negatives.

Tests and the benchmark share them. Secrets are generated from a seeded random source (and private keys by
``cryptography``), so no credential-shaped literal lives in this repository: every prefix below is
harmless on its own, and the rules need the random body that only exists in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from dataclasses import dataclass

from .filters import crc32_base62, crc32_base62_valid, is_placeholder

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
BASE64 = ALNUM + "+/"
HEX = "0123456789abcdef"
BASE32 = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class Sample:
    """``text`` is a file's content; ``rule`` the rule that must report ``secret`` (``None``: nothing may
    be reported). ``filename`` gives the file a fitting name (``.env``, ``config.yaml``)."""

    text: str
    rule: str | None
    secret: str | None
    filename: str = "config.py"
    label: str = ""


class Forge:
    """Makes fake credentials in each provider's real format from a seeded random source."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def checksummed(self, prefix: str) -> str:
        body = self.chars(ALNUM, 30)
        return f"{prefix}_{body}{crc32_base62(body)}"

    def jwt(self, claims: dict | None = None) -> str:
        def b64(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = claims or {"sub": self.chars(ALNUM, 12), "iat": 1700000000 + self.rng.randrange(10**7),
                            "role": "admin"}
        return f"{header}.{b64(json.dumps(claims).encode())}.{b64(self.rng.randbytes(32))}"

    def private_keys(self) -> list[tuple[str, str]]:
        """Real private keys in each PEM/OpenSSH encoding: (label, text)."""
        from cryptography.hazmat.primitives import serialization as s
        from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        dsa_key = dsa.generate_private_key(key_size=1024)
        ed_key = ed25519.Ed25519PrivateKey.generate()
        none, pem = s.NoEncryption(), s.Encoding.PEM
        return [
            ("rsa-pkcs1", rsa_key.private_bytes(pem, s.PrivateFormat.TraditionalOpenSSL, none).decode()),
            ("ec-sec1", ec_key.private_bytes(pem, s.PrivateFormat.TraditionalOpenSSL, none).decode()),
            ("dsa", dsa_key.private_bytes(pem, s.PrivateFormat.TraditionalOpenSSL, none).decode()),
            ("pkcs8", ec_key.private_bytes(pem, s.PrivateFormat.PKCS8, none).decode()),
            ("pkcs8-encrypted", rsa_key.private_bytes(
                pem, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(self.chars(ALNUM, 16).encode())).decode()),
            ("openssh", ed_key.private_bytes(pem, s.PrivateFormat.OpenSSH, none).decode()),
        ]

    def public_keys(self) -> list[str]:
        from cryptography.hazmat.primitives import serialization as s
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        ec_public = ec.generate_private_key(ec.SECP256R1()).public_key()
        ed_public = ed25519.Ed25519PrivateKey.generate().public_key()
        return [ec_public.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(),
                ed_public.public_bytes(s.Encoding.OpenSSH, s.PublicFormat.OpenSSH).decode()]

    def putty_key(self) -> tuple[str, str]:
        """A .ppk file and its secret part (the private lines)."""
        lines = [self.chars(BASE64, 64) for _ in range(3)] + [self.chars(BASE64, 20) + "=="]
        public = [self.chars(BASE64, 64) for _ in range(2)]
        return "\n".join([
            "PuTTY-User-Key-File-3: ssh-ed25519", "Encryption: none", "Comment: deploy@ci",
            f"Public-Lines: {len(public)}", *public, f"Private-Lines: {len(lines)}", *lines,
            f"Private-MAC: {self.chars(HEX, 64)}", ""]), "\n".join(lines) + "\n"


def positives(seed: int = 7, *, with_keys: bool = True) -> list[Sample]:
    """At least one true positive per built-in rule, each in a realistic file."""
    f = Forge(seed)
    c = f.chars
    out: list[Sample] = []

    def add(rule: str, secret: str, template: str, filename: str = "config.py", label: str = "") -> None:
        out.append(Sample(template.format(s=secret), rule, secret, filename, label or rule))

    add("aws-access-key-id", "AKIA" + c(BASE32, 16), 'AWS_ACCESS_KEY_ID = "{s}"\n')
    add("aws-access-key-id", "ASIA" + c(BASE32, 16), "aws_access_key_id={s}\n", "credentials")
    add("aws-secret-access-key", c(BASE64, 40), "aws_secret_access_key = {s}\n", "credentials")
    add("aws-secret-access-key", c(BASE64, 40), '  AWS_SECRET_ACCESS_KEY: "{s}"\n', "ci.yml")
    add("github-pat", f.checksummed("ghp"), 'token = "{s}"\n')
    add("github-pat", f.checksummed("ghp"), "GITHUB_TOKEN={s}\n", ".env")
    add("github-fine-grained-pat", f"github_pat_{c(ALNUM, 22)}_{c(ALNUM, 59)}", "export GH_TOKEN={s}\n", "deploy.sh")
    add("github-oauth-token", f.checksummed("gho"), '{{"oauth_token": "{s}"}}\n', "hosts.json")
    add("github-app-token", f.checksummed("ghs"), "headers = {{'Authorization': 'token {s}'}}\n")
    add("github-app-token", f.checksummed("ghu"), "user_token: {s}\n", "app.yaml")
    add("github-refresh-token", f.checksummed("ghr"), 'refresh = "{s}"\n')
    if with_keys:
        for label, key in f.private_keys():
            add("private-key", key.strip(), "{s}\n", f"id_{label}.pem", f"private-key ({label})")
        pem = f.private_keys()[3][1].strip().replace("\n", "\\n")
        add("private-key", pem, '{{"type": "service_account", "private_key": "{s}\\n"}}\n', "sa.json",
            "private-key (json-escaped)")
    putty, private_lines = f.putty_key()
    out.append(Sample(putty, "putty-private-key", private_lines, "deploy.ppk", "putty-private-key"))
    add("cloudflare-api-token", c(URLSAFE, 40), "CLOUDFLARE_API_TOKEN={s}\n", ".env")
    add("cloudflare-api-token", c(HEX, 37), 'cf_api_key = "{s}"\n')
    add("cloudflare-origin-ca-key", f"v1.0-{c(HEX, 24)}-{c(HEX, 146)}", 'origin_ca = "{s}"\n')
    add("neon-api-key", "napi_" + c(ALNUM, 64), "NEON_API_KEY={s}\n", ".env")
    add("neon-api-key", "napi_" + c(ALNUM, 64), 'headers = {{"Authorization": "Bearer {s}"}}\n', "neon.py",
        "neon-api-key (bearer)")
    add("polar-access-token", "polar_oat_" + c(ALNUM, 43), 'POLAR_ACCESS_TOKEN = "{s}"\n')
    add("stripe-secret-key", "sk_live_" + c(ALNUM, 99), "stripe.api_key = '{s}'\n")
    add("stripe-secret-key", "rk_test_" + c(ALNUM, 24), "STRIPE_KEY={s}\n", ".env")
    add("stripe-webhook-secret", "whsec_" + c(ALNUM, 32), "STRIPE_WEBHOOK_SECRET={s}\n", ".env")
    add("slack-token", f"xoxb-{c(string.digits, 12)}-{c(string.digits, 13)}-{c(ALNUM, 24)}",
        'SLACK_BOT_TOKEN = "{s}"\n')
    add("slack-webhook-url", f"T{c(BASE32, 8)}/B{c(BASE32, 10)}/{c(ALNUM, 24)}",
        'webhook = "https://hooks.slack.com/services/{s}"\n')
    add("slack-webhook-url", f"T{c(BASE32, 10)}/A{c(BASE32, 10)}/{c(string.digits, 18)}/{c(ALNUM, 24)}",
        "SLACK_WORKFLOW_URL=https://hooks.slack.com/workflows/{s}\n", ".env", "slack-webhook-url (workflow)")
    add("openai-api-key", f"sk-proj-{c(URLSAFE, 74)}T3BlbkFJ{c(URLSAFE, 74)}", "OPENAI_API_KEY={s}\n", ".env")
    add("anthropic-api-key", f"sk-ant-api03-{c(URLSAFE, 93)}AA", 'client = Anthropic(api_key="{s}")\n')
    add("google-api-key", "AIza" + c(URLSAFE, 35), 'const firebaseKey = "{s}";\n', "app.js")
    add("gitlab-token", "glpat-" + c(URLSAFE, 20), "GITLAB_TOKEN: {s}\n", ".gitlab-ci.yml")
    add("npm-access-token", f.checksummed("npm"), "//registry.npmjs.org/:_authToken={s}\n", ".npmrc")
    add("pypi-upload-token", "pypi-AgEIcHlwaS5vcmc" + c(URLSAFE, 120), "password = {s}\n", ".pypirc")  # secretscan:allow (test fixture)
    add("sendgrid-api-key", f"SG.{c(URLSAFE, 22)}.{c(URLSAFE, 43)}", 'SENDGRID = "{s}"\n')
    add("datadog-api-key", c(HEX, 32), "DD_API_KEY={s}\n", ".env")
    add("datadog-api-key", c(HEX, 40), 'datadog_app_key: "{s}"\n', "values.yaml")
    add("datadog-api-key", c(HEX, 32), 'const ddApiKey = "{s}";\n', "metrics.ts", "datadog-api-key (camelCase)")
    add("datadog-application-key", "ddapp_" + c(ALNUM, 40), "DD_APP_KEY={s}\n", ".env")
    add("posthog-personal-api-key", "phx_" + c(ALNUM, 43), 'POSTHOG_PERSONAL_API_KEY = "{s}"\n')
    add("jwt", f.jwt(), 'headers = {{"Authorization": "Bearer {s}"}}\n')
    add("jwt", f.jwt({"user": c(ALNUM, 8), "tenant": c(ALNUM, 6), "admin": True}), "session: {s}\n", "fixture.yaml",
        "jwt (no registered claims)")
    add("database-url-password", c(ALNUM, 20),
        'DATABASE_URL = "postgresql://app_user:{s}@ep-quiet-1.eu-central-1.aws.neon.tech/app?sslmode=require"\n')
    add("database-url-password", c(ALNUM + "!%^*", 16), "  url: mysql+pymysql://svc:{s}@10.0.3.7:3306/orders\n",
        "db.yaml")
    add("database-url-password", c(ALNUM, 24), "REDIS_URL=rediss://default:{s}@cache.internal:6380/0\n", ".env")
    add("generic-secret-assignment", c(ALNUM, 32), 'client_secret = "{s}"\n')
    add("generic-secret-assignment", c(URLSAFE, 40), "SESSION_SECRET_KEY={s}\n", ".env")
    add("generic-secret-assignment", c(ALNUM, 24) + "!x9", '  "password": "{s}",\n', "settings.json")
    add("generic-secret-assignment", c(ALNUM, 28), "  api_key: {s}\n", "service.yaml")
    add("generic-secret-assignment", c(ALNUM, 8) + "!" + c(string.digits, 2), 'DB_PASSWORD = "{s}"\n', "settings.py",
        "generic-secret-assignment (short password)")
    add("generic-secret-assignment", c(HEX, 64), '"client_secret": "{s}",\n', "oauth.json",
        "generic-secret-assignment (64-hex client secret)")
    add("generic-secret-assignment", c(URLSAFE, 32), 'token = os.environ.get("SERVICE_TOKEN", "{s}")\n', "app.py",
        "generic-secret-assignment (environment default)")
    add("generic-secret-assignment", c(ALNUM, 30), 'const key = process.env.API_KEY || "{s}";\n', "server.js",
        "generic-secret-assignment (process.env fallback)")
    add("generic-secret-assignment", c(ALNUM, 32), 'settings["mailgun_api_key"] = "{s}"\n', "conf.py",
        "generic-secret-assignment (indexed assignment)")
    add("generic-secret-comparison", c(ALNUM, 10) + "#" + c(string.digits, 3), 'if ("{s}" == admin_password) {{\n', "auth.c")
    add("gitlab-token", "glrt-" + c(URLSAFE, 26), "RUNNER_TOKEN={s}\n", ".env", "gitlab-token (runner)")
    for rule, secret, template, filename in _provider_tokens(f):
        add(rule, secret, template, filename)
    return out


#: The provider rules' token shapes (published formats; every string is generated): rule, a maker.
def _provider_shapes(f: Forge) -> list[tuple[str, object]]:
    c = f.chars
    upper_digits = string.ascii_uppercase + string.digits
    hex_mixed = HEX + "ABCDEF"
    return [
        ("twilio-api-key", lambda: "SK" + c(HEX, 32)),
        ("square-access-token", lambda: f.rng.choice(["EAAA", "sq0atp-"]) + c(URLSAFE, f.rng.choice([22, 60]))),
        ("square-application-secret", lambda: "sq0csp-" + c(URLSAFE, 43)),
        ("hashicorp-terraform-token", lambda: f"{c(HEX, 14)}.atlasv1.{c(ALNUM + '_-', 67)}"),
        ("vault-token", lambda: f.rng.choice(["hvs." + c(URLSAFE, 91), "hvb." + c(URLSAFE, 138)])),
        ("heroku-api-key", lambda: "HRKU-AA" + c(URLSAFE, 58)),
        ("digitalocean-token", lambda: f.rng.choice(["dop", "doo", "dor"]) + "_v1_" + c(HEX, 64)),
        ("huggingface-token", lambda: f.rng.choice(["hf_", "api_org_"]) + c(string.ascii_letters, 34)),
        ("shopify-token", lambda: f.rng.choice(["shpat", "shpca", "shppa", "shpss"]) + "_" + c(hex_mixed, 32)),
        ("grafana-token", lambda: f.rng.choice(["glc_" + c(BASE64, 100) + "=", f"glsa_{c(ALNUM, 32)}_{c(HEX, 8)}"])),
        ("doppler-token", lambda: f"dp.{f.rng.choice(['pt', 'st', 'sa', 'ct'])}.{c(ALNUM, 43)}"),
        ("pulumi-access-token", lambda: "pul-" + c(HEX, 40)),
        ("sentry-token", lambda: f.rng.choice(["sntrys_eyJ" + c(BASE64, 120) + "=", "sntryu_" + c(HEX, 64)])),
        ("linear-api-key", lambda: "lin_api_" + c(ALNUM, 40)),
        ("age-secret-key", lambda: "AGE-SECRET-KEY-1" + c("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)),
        ("onepassword-service-account-token", lambda: "ops_eyJ" + c(BASE64, 300) + "=="),
        ("databricks-token", lambda: "dapi" + c(HEX, 32) + f.rng.choice(["", "-2"])),
        ("dynatrace-api-token", lambda: f"dt0c01.{c(upper_digits, 24)}.{c(upper_digits, 64)}"),
        ("newrelic-key", lambda: f.rng.choice(["NRAK-", "NRII-"]) + c(upper_digits, 27)),
        ("postman-api-key", lambda: f"PMAK-{c(HEX, 24)}-{c(HEX, 34)}"),
        ("atlassian-api-token", lambda: "ATATT3" + c(URLSAFE, 186)),
        ("jfrog-api-key", lambda: "AKCp" + c(ALNUM, 69)),
        ("azure-ad-client-secret", lambda: f"{c(ALNUM, 3)}{c(string.digits, 1)}Q~{c(ALNUM + '_~.-', 34)}"),
    ]


def _provider_tokens(f: Forge) -> list[tuple[str, str, str, str]]:
    """One positive per provider rule, in the file a team would leak it in."""
    templates = [('{n} = "{s}"\n', "settings.py"), ("{N}={s}\n", ".env"), ('  {n}: "{s}"\n', "values.yaml"),
                 ('export {N}="{s}"\n', "deploy.sh"), ('const {n} = "{s}";\n', "config.ts")]
    out = []
    for rule, make in _provider_shapes(f):
        template, filename = f.rng.choice(templates)
        name = rule.rsplit("-", 1)[0].replace("-", "_")
        secret = make()
        out.append((rule, secret, template.replace("{n}", name).replace("{N}", name.upper()), filename))
    return out


def _provider_negatives(f: Forge) -> list[tuple[str, str]]:
    """Shapes near the provider rules that are not credentials: placeholders, wrong lengths or alphabets."""
    c = f.chars
    return [
        ("TWILIO_API_KEY=SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "twilio placeholder"),
        (f"sid = 'SK{c(HEX, 30)}'\n", "twilio too short"),
        (f"dop_v1_{c(HEX, 60)}\n", "digitalocean too short"),
        (f'shopify = "shpat_{c("ghijklmnopqrstuvwxyz", 32)}"\n', "shopify not hex"),
        ("VAULT_TOKEN=hvs.your-vault-token-here\n", "vault placeholder"),
        (f"age = AGE-SECRET-KEY-1{c('QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L', 40)}\n", "age too short"),
        (f'client_id = "{c(ALNUM, 3)}5Q~"\n', "azure fragment"),
        ("HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "huggingface placeholder"),
        (f"PMAK-{c(HEX, 24)}\n", "postman fragment"),
    ]


def negatives(seed: int = 11) -> list[Sample]:
    """Hard negatives: values shaped like secrets, or secret-named values, that are not credentials."""
    f = Forge(seed)
    c = f.chars
    wrong_checksum = "ghp_" + c(ALNUM, 30) + "000000"
    digest = hashlib.sha256(c(ALNUM, 10).encode()).hexdigest()
    texts = [
        ('AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n', "aws documentation key"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "aws documentation secret"),
        (f'token = "{wrong_checksum}"\n', "github token with a wrong checksum"),
        ('GITHUB_TOKEN = "${{ secrets.GITHUB_TOKEN }}"\n', "actions expression"),
        ('password = os.environ["DB_PASSWORD"]\n', "environment lookup"),
        ("const apiKey = process.env.OPENAI_API_KEY;\n", "process.env"),
        ('api_key: "your-api-key-here"\n', "placeholder"),
        ('secret = "xxxxxxxxxxxxxxxxxxxxxxxx"\n', "mask"),
        ('token = "<YOUR_TOKEN_GOES_HERE_1234>"\n', "angle placeholder"),
        ('password = "changeme-before-deploy-2024"\n', "changeme"),
        (f'sha256_token = "{digest}"\n', "sha256 digest"),
        (f'secret_hash = "{hashlib.md5(c(ALNUM, 8).encode()).hexdigest()}"\n', "md5 digest"),
        (f"token: {hashlib.sha1(c(ALNUM, 8).encode()).hexdigest()}\n", "git sha"),
        (f'request_token = "{uuid.UUID(int=f.rng.getrandbits(128), version=4)}"\n', "uuid"),
        ('token_url = "https://oauth2.googleapis.com/token"\n', "url"),
        ('secret_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"\n', "path"),
        ('password_field = "password_input_element"\n', "field name"),
        ('api_key_env = "OPENAI_API_KEY_PRODUCTION"\n', "env var name"),
        ("max_tokens = 4096\n", "number"),
        (f'public_key = "{c(BASE64, 44)}"\n', "public key value"),
        ('DATABASE_URL = "postgresql://user:password@localhost:5432/app"\n', "db url placeholder password"),
        ('url = "postgres://postgres:postgres@127.0.0.1/test"\n', "db url default password"),
        ('url = "mysql://root:${MYSQL_ROOT_PASSWORD}@db/app"\n', "db url env password"),
        ('url = "postgresql://app@db.internal/app"\n', "db url without password"),
        ("-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n", "pem placeholder"),
        ('key = "-----BEGIN PRIVATE KEY-----"  # header only\n', "pem header in code"),
        (f'STRIPE_PUBLISHABLE_KEY = "pk_live_{c(ALNUM, 24)}"\n', "stripe publishable key"),
        (f'POSTHOG_PROJECT_KEY = "phc_{c(ALNUM, 43)}"\n', "posthog public project key"),
        (f'payload = "eyJ{c(URLSAFE, 20)}.eyJ{c(URLSAFE, 20)}.{c(URLSAFE, 30)}"\n', "jwt-shaped noise"),
        ("jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVlLWhlcmU'\n",
         "jwt with a typed signature"),
        ('token_type = "bearer_token_v2_format"\n', "descriptive value"),
        # one or more per rule: the documentation spelling, a truncated value, a broken checksum
        (f"oauth = '{'gho_' + c(ALNUM, 36)}'\n", "github oauth token with a wrong checksum"),
        (f"ghs = '{'ghs_' + c(ALNUM, 30)}abcdef'\n", "github app token with a wrong checksum"),
        (f"npm_config = '{'npm_' + c(ALNUM, 36)}'\n", "npm token with a wrong checksum"),
        ("GH_TOKEN=github_pat_xxxxxxxxxxxxxxxxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
         "github fine-grained placeholder"),
        ("SLACK_BOT_TOKEN=xoxb-your-bot-token-here\n", "slack placeholder"),
        ("webhook: https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\n",
         "slack documentation webhook"),
        ("OPENAI_API_KEY=sk-proj-...\n", "openai placeholder"),
        (f"key = 'sk-ant-api03-{'x' * 93}AA'\n", "anthropic placeholder"),
        (f"maps_key = 'AIza{c(ALNUM, 20)}'\n", "google key truncated"),
        ("GITLAB_TOKEN: glpat-xxxxxxxxxxxxxxxxxxxx\n", "gitlab documentation token"),
        ("password = pypi-AgEIcHlwaS5vcmc...\n", "pypi truncated token"),
        ("SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n", "sendgrid placeholder"),
        ("DD_API_KEY=<DATADOG_API_KEY>\n", "datadog placeholder"),
        (f"dd_app_key: {'0' * 40}\n", "datadog zero key"),
        (f"POLAR_ACCESS_TOKEN=polar_oat_{'x' * 43}\n", "polar placeholder"),
        ("NEON_API_KEY=${NEON_API_KEY}\n", "neon environment reference"),
        ("CLOUDFLARE_API_TOKEN=${{ secrets.CLOUDFLARE_API_TOKEN }}\n", "cloudflare actions expression"),
        (f"origin = 'v1.0-{c(HEX, 24)}-{c(HEX, 40)}'\n", "cloudflare origin key truncated"),
        ("STRIPE_WEBHOOK_SECRET=whsec_...\n", "stripe webhook placeholder"),
        (f"stripe.api_key = 'sk_live_{'x' * 24}'\n", "stripe placeholder"),
        ("aws_secret_access_key = os.environ['AWS_SECRET_ACCESS_KEY']\n", "aws secret from the environment"),
        ("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: <your key here>\n", "putty header only"),
        (f"POSTHOG_PERSONAL_API_KEY = 'phx_{'x' * 43}'\n", "posthog placeholder"),
        (f'integrity = "sha512-{c(BASE64, 86)}=="\n', "subresource integrity"),
        (f'DD_CLIENT_TOKEN = "pub{c(HEX, 32)}"\n', "datadog public client token"),
        ("SLACK_CONFIG_TOKEN=xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere\n", "slack configuration placeholder"),
        ("firebase_key = 'AIzaSy" + "abcdefghijklmnopqrstuvwxyz1234567'\n", "firebase sdk example key"),
        (f'password = "{c(string.ascii_lowercase, 6)}"\n', "short lower-case word"),
        (f'client_secret_sha256 = "{c(HEX, 64)}"\n', "digest of a client secret"),
        ('KEYS = [\n    "MLKEM768X25519PrivateKey",\n    "MLKEM768X25519PublicKey",\n]\n', "list of type names"),
        ("def sign(private_key: PKCS7PrivateKeyTypes,\n", "type annotation"),
        ("if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):\n", "isinstance tuple"),
        ("        secret = keypair[:32]\n", "slice expression"),
        ("            token = self._input.LA(1)\n", "method call"),
        ("    src_base_url, src_auth = split_url_auth(src_base_url)\n", "tuple unpacking"),
    ]
    out = [Sample(text, None, None, "config.py", label) for text, label in texts]
    for key in f.public_keys():
        out.append(Sample(key + "\n", None, None, "id.pub", "public key"))
    lock = "".join(f'"pkg-{i}": "sha256:{c(HEX, 64)}", "token": "{c(ALNUM, 32)}"\n' for i in range(5))
    out.append(Sample(lock, None, None, "poetry.lock", "lock file"))
    return out


# --- labelled sets in the formats the peers test (benchmarks/secret_scan.py) -----------------------------
#
# The token formats and the syntaxes around them are those exercised by gitleaks' rule tests
# (cmd/generate/config/rules/*.go) and detect-secrets' plugin tests (tests/plugins/*_test.py), for the
# providers this scanner's rules claim. Every string is generated here; nothing is copied from them.

#: Ways a credential is written in source and config files: (template, file name). ``{n}`` is a variable
#: stem (``stripe``), ``{N}`` its upper case, ``{s}`` the secret.
CONTEXTS = [
    ('{n}Token="{s}"\n', "app.ini"), ("{n}Token = {s}\n", "app.ini"),
    ('{{\n    "{n}_token": "{s}"\n}}\n', "config.json"),
    ('{{"config.ini": "{N}_TOKEN={s}\\nBACKUP_ENABLED=true"}}\n', "bundle.json"),
    ("<{n}Token>\n    {s}\n</{n}Token>\n", "settings.xml"),
    ("{n}_token: {s}\n", "values.yaml"), ("{n}_token: '{s}'\n", "values.yaml"),
    ('string {n}Token = "{s}";\n', "Config.cs"), ('var {n}Token string = "{s}"\n', "main.go"),
    ("{n}Token := `{s}`\n", "main.go"), ('String {n}Token = "{s}";\n', "Main.java"),
    ('${n}Token .= "{s}";\n', "conf.php"), ("{n}Token = '{s}'\n", "settings.py"),
    ('System.setProperty("{N}_TOKEN", "{s}");\n', "Boot.java"), ('  "{n}Token" => "{s}"\n', "pipeline.conf"),
    ('{N}_TOKEN := "{s}"\n', "Makefile"), ('{N}_TOKEN ?= "{s}"\n', "Makefile"), ('{N}_TOKEN ::= "{s}"\n', "Makefile"),
]


def _in_contexts(f: Forge, rule: str, stem: str, secret_of, label: str, count: int = 3) -> list[Sample]:
    out = []
    for template, filename in f.rng.sample(CONTEXTS, count):
        secret = secret_of()
        out.append(Sample(template.format(n=stem, N=stem.upper(), s=secret), rule, secret, filename, label))
    return out


def gitleaks_style(seed: int = 31) -> tuple[list[Sample], list[Sample]]:
    """True and false positives in the formats of gitleaks' rule tests, for the providers claimed here."""
    f = Forge(seed)
    c = f.chars
    lower_digits = string.ascii_lowercase + string.digits
    tokens = [
        ("aws-access-key-id", "aws", lambda: f.rng.choice(["AKIA", "ASIA", "ABIA", "ACCA"]) + c(BASE32, 16)),
        ("github-pat", "github", lambda: f.checksummed("ghp")),
        ("github-oauth-token", "github", lambda: f.checksummed("gho")),
        ("github-app-token", "github", lambda: f.checksummed(f.rng.choice(["ghu", "ghs"]))),
        ("github-refresh-token", "github", lambda: f.checksummed("ghr")),
        ("github-fine-grained-pat", "github", lambda: f"github_pat_{c(ALNUM, 22)}_{c(ALNUM, 59)}"),
        ("cloudflare-api-token", "cloudflare", lambda: c(URLSAFE, 40)),
        ("cloudflare-api-token", "cloudflare_global_api", lambda: c(HEX, 37)),
        ("cloudflare-origin-ca-key", "cloudflare", lambda: f"v1.0-{c(HEX, 24)}-{c(HEX, 146)}"),
        ("stripe-secret-key", "stripe", lambda: f.rng.choice(["sk", "rk"]) + "_" + f.rng.choice(
            ["test", "live", "prod"]) + "_" + c(ALNUM, f.rng.choice([30, 99]))),
        ("slack-token", "bot", lambda: f"xoxb-{c(string.digits, 12)}-{c(string.digits, 13)}-{c(ALNUM, 24)}"),
        ("slack-token", "bot", lambda: f"xoxb-{c(string.digits, 12)}-{c(ALNUM, 24)}"),
        ("slack-token", "user", lambda: f"xoxp-{c(string.digits, 12)}-{c(string.digits, 12)}-"
                                        f"{c(string.digits, 12)}-{c(HEX, 32)}"),
        ("slack-token", "app", lambda: f"xapp-1-A{c(BASE32.replace('A', ''), 10)}-{c(string.digits, 13)}-{c(HEX, 64)}"),
        ("slack-token", "access", lambda: f"xoxe.xoxp-1-{c(ALNUM, 163)}"),
        ("slack-token", "refresh", lambda: f"xoxe-1-{c(ALNUM, 146)}"),
        ("slack-webhook-url", "slack", lambda: "https://hooks.slack.com/services/" + c(ALNUM, 44)),
        ("slack-webhook-url", "slack", lambda: "https://hooks.slack.com/workflows/" + c(ALNUM, 45)),
        ("openai-api-key", "openai", lambda: f"sk-{c(ALNUM, 20)}T3BlbkFJ{c(ALNUM, 20)}"),
        ("openai-api-key", "openai", lambda: f"sk-{f.rng.choice(['proj', 'svcacct', 'admin'])}-{c(URLSAFE, 74)}"
                                              f"T3BlbkFJ{c(URLSAFE, 74)}"),
        ("anthropic-api-key", "anthropic", lambda: f"sk-ant-{f.rng.choice(['api03', 'admin01'])}-{c(URLSAFE, 93)}AA"),
        ("google-api-key", "gcp", lambda: "AIza" + c(URLSAFE, 35)),
        ("gitlab-token", "gitlab", lambda: f.rng.choice(["glpat", "gldt", "glft", "glimt", "glffct", "glsoat"]) + "-"
                                           + c(ALNUM, 20)),
        ("gitlab-token", "gitlab", lambda: f"glpat-{c(ALNUM, 27)}.{c(lower_digits, 2)}{c(lower_digits, 7)}"),
        ("gitlab-token", "gitlab", lambda: "glptt-" + c(HEX, 40)),
        ("gitlab-token", "gitlab", lambda: f"glcbt-{c(ALNUM, 5)}_{c(ALNUM, 20)}"),
        ("gitlab-token", "gitlab", lambda: f.rng.choice(["glagent-" + c(ALNUM, 50), "gloas-" + c(ALNUM, 64)])),
        ("npm-access-token", "npmAccess", lambda: f.checksummed("npm")),
        ("pypi-upload-token", "pypi", lambda: "pypi-AgEIcHlwaS5vcmc" + c(HEX, 64)),
        ("sendgrid-api-key", "sendgrid", lambda: f"SG.{c(URLSAFE, 22)}.{c(URLSAFE, 43)}"),
        ("jwt", "jwt", f.jwt),
        ("jwt", "jwt", lambda: f.jwt({"user": c(ALNUM, 8), "groups": ["ops"]})),
    ] + [(rule, rule.split("-")[0], make) for rule, make in _provider_shapes(f)]
    positives_: list[Sample] = []
    for rule, stem, make in tokens:
        positives_ += _in_contexts(f, rule, stem, make, rule)
    generic = [  # the generic rule's own syntaxes
        ("'access_token': '{s}'\n", lambda: c(BASE64, 22) + "=="),
        ('some_api_token_123 = "{s}"\n', lambda: c(ALNUM, 60)),
        ('"user_auth": "{s}"\n', lambda: c(BASE64, 54) + "="),
        ('"credentials" : "{s}"\n', lambda: c(HEX, 64)),
        ("creds = {s}\n", lambda: c(ALNUM, 30)),
        ("private-key: {s}\n", lambda: c(ALNUM + "-_.=", 100)),
        ("passwd = {s}\n", lambda: c(ALNUM + "-_.=", 30)),
        ('"client_secret" : "{s}",\n', lambda: c(HEX, 64)),
        ("mySecretString={s}\n", lambda: c(ALNUM, 30)),
        ("todo_secret_do_not_commit = {s}\n", lambda: c(ALNUM, 30)),
        ('datadogToken := "{s}"\n', lambda: c(ALNUM, 40)),
    ]
    for template, make in generic:
        for _ in range(3):
            secret = make()
            positives_.append(Sample(template.format(s=secret), "generic-secret-assignment", secret, "config.txt",
                                     "generic"))
    for label, key in f.private_keys():
        positives_.append(Sample(key.strip() + "\n", "private-key", key.strip(), f"id_{label}", f"private-key ({label})"))

    bad_checksum = "ghp_" + c(ALNUM, 36)
    while crc32_base62_valid(bad_checksum):
        bad_checksum = "ghp_" + c(ALNUM, 36)
    texts = [
        ("key = AKIAXXXXXXXXXXXXXXXX\n", "aws low entropy"), ("aws_access_key: AKIAIOSFODNN7EXAMPLE\n", "aws placeholder"),
        (f"TODAYINASIA{c(string.ascii_uppercase, 19)}\n", "aws wrong length"),
        ("ghp_" + "x" * 36 + "\n", "github placeholder"), ("github_pat_" + "x" * 22 + "_" + "x" * 59 + "\n", "github pat placeholder"),
        (f'token = "{bad_checksum}"\n', "github token failing its checksum"),
        ("glpat-XXXXXXXXXXX-XXXXXXXX\n", "gitlab placeholder"), (f'nonMatchingToken := "task_test_{c(ALNUM, 30)}"\n', "not stripe"),
        (f"sk-ant-api03-{c(URLSAFE, 60)}AA\n", "anthropic too short"), (f"sk-ant-api03-{c(URLSAFE, 93)}BB\n", "anthropic wrong suffix"),
        ("xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx\n", "slack placeholder"), ("xoxb-12345-abcd234\n", "slack too short"),
        (f"xoxp-1234-1234-1234-{c(HEX, 32)}\n", "slack short ids"), ("xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere\n", "slack config placeholder"),
        ("xoxe.xoxp-1-RANDOMSTRINGHERE\n", "slack config placeholder"), ("xoxe.xoxp-1-initial\n", "slack config placeholder"),
        ('apiKey: "AIza' + "a" * 35 + '"\n', "google low entropy"), ("AIZASY" + c(string.ascii_uppercase + string.digits, 33) + "\n", "google wrong case"),
        ("AIzaSy" + "abcdefghijklmnopqrstuvwxyz1234567\n", "firebase sdk example key"),
        (f'"accessor":"{c(ALNUM, 16)}",\n', "generic accessor"),
        (f"report_access_id: {uuid.UUID(int=f.rng.getrandbits(128), version=4)}\n", "generic access id"),
        (f'public_key = "{c(ALNUM, 43)}"\n', "generic public key"), (f"primaryKey={c(ALNUM + '-_.=', 30)}\n", "generic primary key"),
        (f"key_down_event={c(ALNUM + '-_.=', 30)}\n", "generic key event"), ('LLM_SECRET_NAME = "NEXUS-GPT4-API-KEY"\n', "generic secret name"),
        (f',apiKey:"{c(HEX, 32)}",\n', "generic hex api key"), ('const keyStr = "' + ALNUM + '"\n', "generic alphabet"),
        ("PuttyPassword=0\n", "generic short"), (f"credentialsId: '{uuid.UUID(int=f.rng.getrandbits(128), version=4)}'\n", "generic jenkins id"),
        (f'DD_CLIENT_TOKEN = "pub{c(HEX, 32)}"\n', "datadog public client token"),
        ("secretSize must be >= XXH3_SECRET_SIZE_MIN\n", "generic prose"), ("author = 'james.fake@ymail.com',\n", "generic author"),
    ]
    negatives_ = [Sample(text, None, None, "config.txt", label) for text, label in texts + _provider_negatives(f)]
    return positives_, negatives_


def detect_secrets_style(seed: int = 37) -> tuple[list[Sample], list[Sample]]:
    """True and false positives in the formats of detect-secrets' plugin tests, for the providers
    claimed here (keyword assignments and comparisons in several languages, tokens, URLs with passwords)."""
    f = Forge(seed)
    c = f.chars
    symbols = ALNUM + "!@#$%^&*-_+=.:~(){}[]"

    def password() -> str:
        while True:
            value = c(ALNUM, 6) + c("!@#$%^&*-_+=.:~", 2) + c(symbols, f.rng.randrange(4, 14)) + c(string.digits, 2)
            if not is_placeholder(value):
                return value

    keyword_contexts = [
        ('password = "{s}"', "settings.py"), ('password_super_secure = "{s}"', "settings.py"),
        ("api_key: '{s}'", "config.yaml"), ("aws_secret_access_key: '{s}'", "config.yaml"),
        ('apikey := "{s}"', "main.go"), ("api_key := '{s}'", "main.go"), ("aws_secret_access_key := `{s}`", "main.go"),
        ("db_pass := {s}", "main.go"), ("db_pass = {s}", "app.cfg"),
        ('if (apikey == "{s}") {{', "check.js"), ('if (api_key !== "{s}") {{', "check.js"),
        ('if ("{s}" == password) {{', "check.c"), ('if ("{s}" !== my_private_key) {{', "check.js"),
        ('password = @"{s}";', "Keys.m"), ('secrete[] = "{s}";', "keys.c"), ('char secrete[25] = "{s}";', "keys.c"),
        ('password => "{s}"', "config.rb"), ("apikey_myservice: \"{s}\"", "app.yaml"),
    ]
    out_pos: list[Sample] = []
    for template, filename in keyword_contexts:
        for _ in range(2):
            secret = password()
            out_pos.append(Sample(template.format(s=secret) + "\n", "generic-secret-assignment", secret, filename,
                                  "keyword"))
    tokens = [
        ("aws-access-key-id", lambda: "AKIA" + c(BASE32, 16), "aws_access_key = '{s}'"),
        ("aws-secret-access-key", lambda: c(BASE64, 40), 'aws_secret_access_key = "{s}"'),
        ("github-pat", lambda: f.checksummed("ghp"), "GITHUB_TOKEN={s}"),
        ("gitlab-token", lambda: "glpat-" + c(URLSAFE, 20), "token: {s}"),
        ("gitlab-token", lambda: "gldt-" + c(URLSAFE, 20), "deploy: {s}"),
        ("gitlab-token", lambda: "glsoat-" + c(URLSAFE, 45), "oauth: {s}"),
        ("gitlab-token", lambda: "GR1348941" + c(URLSAFE, 20), "registration: {s}"),
        ("jwt", f.jwt, "{s}"),
        ("npm-access-token", lambda: f.checksummed("npm"), "//registry.npmjs.org/:_authToken={s}"),
        ("openai-api-key", lambda: f"sk-{c(ALNUM, 20)}T3BlbkFJ{c(ALNUM, 20)}", "{s}"),
        ("openai-api-key", lambda: f"sk-proj-{c(URLSAFE, 74)}T3BlbkFJ{c(URLSAFE, 74)}", "{s}"),
        ("pypi-upload-token", lambda: "pypi-AgEIcHlwaS5vcmc" + c(URLSAFE, 70), "password = {s}"),
        ("pypi-upload-token", lambda: "pypi-AgENdGVzdC5weXBpLm9yZw" + c(URLSAFE, 70), "password = {s}"),
        ("sendgrid-api-key", lambda: f"SG.{c(URLSAFE, 22)}.{c(URLSAFE, 43)}", "{s}"),
        ("slack-token", lambda: f"xoxp-{c(string.digits, 11)}-{c(string.digits, 11)}-{c(string.digits, 12)}-{c(HEX, 32)}", "{s}"),
        ("slack-token", lambda: f"xoxb-{c(string.digits, 11)}-{c(ALNUM, 24)}", "{s}"),
        ("slack-token", lambda: f"xoxs-{c(string.digits, 10)}-{c(string.digits, 10)}-{c(string.digits, 10)}-{c(HEX, 64)}", "{s}"),
        ("slack-webhook-url", lambda: f"T{c(BASE32, 8)}/B{c(BASE32, 10)}/{c(ALNUM, 24)}", "https://hooks.slack.com/services/{s}"),
        ("stripe-secret-key", lambda: "sk_live_" + c(ALNUM, 24), "{s}"),
        ("stripe-secret-key", lambda: "rk_live_" + c(ALNUM, 24), "{s}"),
        ("database-url-password", lambda: c(ALNUM, 10) + "!" + c(ALNUM, 3), "https://deploy:{s}@artifacts.internal.example"),
        ("database-url-password", lambda: c(ALNUM, 14), "ftp://ci:{s}@files.internal:21/upload"),
    ]
    for rule, make, template in tokens:
        for _ in range(2):
            secret = make()
            out_pos.append(Sample(template.format(s=secret) + "\n", rule, secret, "creds.txt", rule))
    for label, key in f.private_keys()[:4]:
        out_pos.append(Sample(key.strip() + "\n", "private-key", key.strip(), f"id_{label}", f"private-key ({label})"))
    texts = [
        ('api_key = ""', "keyword empty"), ("secret: ''", "keyword empty"), ('password = "somefakekey"', "keyword fake"),
        ("password: ${link}", "keyword template"), ('some_key = "real_secret"', "keyword some_key"),
        ("password: real_key", "keyword word"), ('password = ",.:-@*?!"', "keyword only symbols"),
        ('password => ""', "keyword empty"), ("http://localhost:5000/<%= @variable %>", "basic auth template"),
        ('"https://url:8000";@something else', "basic auth no credentials"), ("https://url:8000 @something else", "basic auth no credentials"),
        (f"pk_live_{c(ALNUM, 24)}", "stripe publishable"), ("sk_live_", "stripe prefix only"),
        ("https://hooks.slack.com/services/Txxxxxxxx/Bxxxxxxxx/xxxxxxxxxxxxxxxxxxxxxxxx", "slack placeholder webhook"),
        ('{"alg":"HS256","typ":"JWT"}.{"name":"Jon Doe"}.' + c(URLSAFE, 43), "jwt not base64"),
        ("eyJAAAA.eyJBBB", "jwt too short"), ("eyJBB.eyJCC.eyJDDDD", "jwt too short"),
        ("glpat_" + c(ALNUM, 20), "gitlab wrong separator"), ("foo-" + c(URLSAFE, 20), "gitlab unknown prefix"),
        (f"sk-proj-{c(ALNUM, 20)}T4BlbkFJ{c(ALNUM, 20)}", "openai wrong marker"),
        (f"{c(BASE64, 40)}", "aws secret without context"), ("AKIAXXXXXXXXXXXXXXXX", "aws placeholder"),
        (f"sha256:{c(HEX, 64)}", "digest"), (f"'{c(HEX, 6)}'", "short hex"),
    ]
    out_neg = [Sample(text + "\n", None, None, "creds.txt", label) for text, label in texts]
    return out_pos, out_neg
