"""The demo firm's fixed facts and name lists (local.demo). Synthetic: invented companies and firms on
the reserved `.example` top-level domain, so no demo address can ever belong to a real organisation."""

from __future__ import annotations

from rapport.records import account_id

DEMO_TENANT_ID = "5f1c8a4e-3b2d-4c7a-9e61-2d8f0b7a4c19"
DEMO_FIRM_NAME = "Ashgrove & Pell LLP"
DEMO_FIRM_DOMAIN = "ashgrovepell.example"
DEMO_FIRM_DOMAINS = [DEMO_FIRM_DOMAIN, "ashgrove-ip.example"]

# (oid, UPN local part, name, title, team): stable across seeds so tests and dev tokens can name them.
DEMO_PARTNERS = [
    ("0b6f1e3a-7c2d-4e59-8a14-3f9d2c6b7e01", "eleanor.marsh", "Eleanor Marsh", "Partner, Trade Marks", "Trade Marks"),
    ("1c7a2f4b-8d3e-4f6a-9b25-4a0e3d7c8f12", "tomasz.wieczorek", "Tomasz Wieczorek", "Partner, Trade Marks",
     "Trade Marks"),
    ("2d8b3a5c-9e4f-4a7b-8c36-5b1f4e8d9a23", "priya.raman", "Priya Raman", "Partner, Contentious IP",
     "Contentious IP"),
    ("3e9c4b6d-af5a-4b8c-9d47-6c2a5f9eab34", "daniel.okafor", "Daniel Okafor", "Partner, Contentious IP",
     "Contentious IP"),
]
WALLED_CLIENT = "halcyra"  # the client the last partner is screened from (he acts against it)


def demo_partner_upn(index: int = 0) -> str:
    return f"{DEMO_PARTNERS[index][1]}@{DEMO_FIRM_DOMAIN}"


def demo_account_id(slug: str) -> str:
    return account_id(f"{slug}.example")


# (name, slug) of corporate clients with in-house IP teams.
CLIENTS = [
    ("Norvale Robotics", "norvale"), ("Kestrelwood Foods", "kestrelwood"), ("Brightmoor Pharma", "brightmoor"),
    ("Quillon Audio", "quillon"), ("Tessaly Cosmetics", "tessaly"), ("Halcyra Games", "halcyra"),
    ("Orbitane Materials", "orbitane"), ("Veldmark Cycles", "veldmark"), ("Lumora Lighting", "lumora"),
    ("Carrow & Finch Apparel", "carrowfinch"), ("Saltire Spirits", "saltire"), ("Pellucid Optics", "pellucid"),
    ("Marrowby Toys", "marrowby"), ("Ostrava Motors", "ostravamotors"), ("Fennick Pet Care", "fennick"),
    ("Aldmere Software", "aldmere"), ("Corvina Coffee", "corvina"), ("Thessaly Skincare", "thessalyskin"),
    ("Wrenfield Outdoor", "wrenfield"), ("Greyhallow Brewing", "greyhallow"), ("Ilmarin Medical", "ilmarin"),
    ("Pashley Vane Fashion", "pashleyvane"), ("Solvent Reef Energy", "solventreef"), ("Tamsin Home", "tamsinhome"),
]

PROSPECTS = [
    ("Brackenridge Beverages", "brackenridge"), ("Oriel Fintech", "orielfintech"), ("Sundial Nutrition", "sundial"),
    ("Mirefield Audio Labs", "mirefield"), ("Cobaltine Batteries", "cobaltine"), ("Tidewater Apparel", "tidewater"),
    ("Nimbleroot Games", "nimbleroot"), ("Hollis & Grey Interiors", "hollisgrey"), ("Quarrymoor Foods", "quarrymoor"),
    ("Larchmont Biotech", "larchmont"), ("Vireo Mobility", "vireo"), ("Emberly Candles", "emberly"),
    ("Stonechat Eyewear", "stonechat"), ("Palisade Security", "palisade"),
]

# (firm name, slug, country, country code, first names, last names) of foreign associate firms.
ASSOCIATES = [
    ("Brandt Weiss Patentanwälte", "brandtweiss", "Germany", "DE",
     ["Katrin", "Jonas", "Henrike", "Matthias", "Ulrike", "Felix"], ["Brandt", "Weiss", "Hoffmann", "Krüger", "Vogel", "Seidel"]),
    ("Cabinet Lemaire Fournier", "lemairefournier", "France", "FR",
     ["Camille", "Mathieu", "Élodie", "Antoine", "Claire", "Julien"], ["Lemaire", "Fournier", "Marchand", "Rousseau", "Girard", "Lefèvre"]),
    ("Studio Legale Ferraris Conti", "ferrarisconti", "Italy", "IT",
     ["Giulia", "Marco", "Chiara", "Lorenzo", "Francesca", "Davide"], ["Ferraris", "Conti", "Moretti", "Galli", "Bianchi", "Rinaldi"]),
    ("Vásquez Olmedo Abogados", "vasquezolmedo", "Mexico", "MX",
     ["Lucía", "Alejandro", "Mariana", "Diego", "Valeria", "Andrés"], ["Vásquez", "Olmedo", "Herrera", "Castillo", "Navarro", "Ibarra"]),
    ("Tanaka Mori IP", "tanakamori", "Japan", "JP",
     ["Haruka", "Kenji", "Yui", "Takeshi", "Aiko", "Ren"], ["Tanaka", "Mori", "Sato", "Kobayashi", "Watanabe", "Ishikawa"]),
    ("Lindqvist Berg Advokatbyrå", "lindqvistberg", "Sweden", "SE",
     ["Astrid", "Erik", "Linnea", "Oskar", "Maja", "Gustav"], ["Lindqvist", "Berg", "Nyström", "Holm", "Sandberg", "Ekström"]),
    ("Oduya & Partners", "oduya", "Nigeria", "NG",
     ["Adaeze", "Chinedu", "Folake", "Emeka", "Ngozi", "Tunde"], ["Oduya", "Okonkwo", "Adeyemi", "Balogun", "Eze", "Nwosu"]),
    ("Shenwei IP Agency", "shenwei", "China", "CN",
     ["Mei", "Jun", "Xiaoling", "Hao", "Yan", "Bo"], ["Zhang", "Wang", "Chen", "Liu", "Zhou", "Xu"]),
    ("Kapoor Mehta Associates", "kapoormehta", "India", "IN",
     ["Ananya", "Rohan", "Kavya", "Arjun", "Ishita", "Vikram"], ["Kapoor", "Mehta", "Iyer", "Desai", "Banerjee", "Rao"]),
    ("Almeida Rocha Propriedade Industrial", "almeidarocha", "Brazil", "BR",
     ["Beatriz", "Rafael", "Larissa", "Thiago", "Camila", "Gustavo"], ["Almeida", "Rocha", "Carvalho", "Ribeiro", "Teixeira", "Barbosa"]),
    ("Hartley Quinn Patent Attorneys", "hartleyquinn", "Australia", "AU",
     ["Chloe", "Liam", "Grace", "Noah", "Isla", "Jack"], ["Hartley", "Quinn", "Fraser", "Dawson", "Whitlock", "Barton"]),
    ("Novak Horvat Odvjetnici", "novakhorvat", "Croatia", "HR",
     ["Ivana", "Luka", "Petra", "Marko", "Ana", "Tomislav"], ["Novak", "Horvat", "Kovačević", "Babić", "Marić", "Jurić"]),
    ("Van Dijk Merkenbureau", "vandijk", "Netherlands", "NL",
     ["Sanne", "Daan", "Femke", "Bram", "Lotte", "Joost"], ["Van Dijk", "De Vries", "Bakker", "Visser", "Smit", "Mulder"]),
    ("Kim Yoon IP Law", "kimyoon", "South Korea", "KR",
     ["Ji-woo", "Min-jun", "Seo-yeon", "Hyun-woo", "Soo-ah", "Do-yun"], ["Kim", "Yoon", "Park", "Choi", "Jung", "Kang"]),
    ("Rosenthal Ben-David", "rosenthalbd", "Israel", "IL",
     ["Noa", "Itai", "Tamar", "Yoav", "Shira", "Eitan"], ["Rosenthal", "Ben-David", "Levi", "Mizrahi", "Peretz", "Avraham"]),
    ("Aydın Marka Patent", "aydinmarka", "Turkey", "TR",
     ["Elif", "Emre", "Zeynep", "Burak", "Ayşe", "Mert"], ["Aydın", "Yılmaz", "Demir", "Şahin", "Çelik", "Kaya"]),
    ("Dubois Stevens LLP", "duboisstevens", "Canada", "CA",
     ["Émilie", "Connor", "Geneviève", "Ryan", "Sophie", "Maxime"], ["Dubois", "Stevens", "Tremblay", "Gagnon", "MacLeod", "Roy"]),
    ("Petrov Sokolova IP", "petrovsokolova", "Bulgaria", "BG",
     ["Elena", "Nikolai", "Desislava", "Georgi", "Mila", "Stefan"], ["Petrov", "Sokolova", "Dimitrov", "Ivanova", "Georgiev", "Todorova"]),
    ("Nordahl Patent AS", "nordahl", "Norway", "NO",
     ["Ingrid", "Henrik", "Sigrid", "Anders", "Kari", "Magnus"], ["Nordahl", "Haugen", "Johansen", "Solberg", "Bakken", "Lie"]),
    ("Halloran IP", "halloran", "Ireland", "IE",
     ["Aoife", "Ciarán", "Niamh", "Seán", "Róisín", "Darragh"], ["Halloran", "Byrne", "Kavanagh", "Doyle", "Brennan", "Nolan"]),
]

# Names for people at corporate clients and prospects (international mix).
FIRST_NAMES = [
    "Amelia", "Oliver", "Hannah", "James", "Sofia", "Lucas", "Isabel", "Ethan", "Maya", "Samuel", "Nora", "Adam",
    "Leila", "Owen", "Freya", "Gabriel", "Zara", "Hugo", "Alice", "Rahul", "Ines", "Tobias", "Yasmin", "Felix",
    "Clara", "Dominic", "Esther", "Marcus", "Priyanka", "Niall", "Rosa", "Victor", "Helena", "Kwame", "Bianca",
    "Stefan", "Imogen", "Julian", "Mariam", "Patrick", "Selin", "Theo", "Ursula", "Wei", "Harriet", "Omar",
    "Beatrice", "Callum", "Daniela", "Edwin", "Fiona", "Gareth", "Hiroshi", "Ingrid", "Jasper", "Kirsten",
]
LAST_NAMES = [
    "Ashworth", "Bramley", "Castellano", "Delacroix", "Ellingham", "Fairbairn", "Gallagher", "Hargreaves", "Ivers",
    "Jandl", "Kowalczyk", "Lindgren", "Mancini", "Northcott", "Okonjo", "Pemberton", "Quayle", "Radcliffe",
    "Salvesen", "Thornbury", "Uddin", "Vance", "Whitmore", "Xiang", "Yardley", "Zielinski", "Abernethy",
    "Beaumont", "Cheng", "Donnelly", "Eriksen", "Fitzroy", "Grünwald", "Haddad", "Iqbal", "Jarvis", "Kaur",
    "Lockhart", "Mbeki", "Nakamura", "Ortega", "Prescott", "Rahman", "Stirling", "Tavares", "Underhill",
    "Villiers", "Wakefield", "Ostrowski", "Marchetti", "Holloway", "Petrakis", "Sandoval", "Kingsley",
]

CLIENT_TITLES = [
    "Head of IP", "Trademark Counsel", "Senior IP Counsel", "General Counsel", "Brand Protection Manager",
    "Legal Director", "IP Paralegal", "Marketing Director", "Patent Counsel", "IP Manager",
]
PROSPECT_TITLES = ["General Counsel", "Head of Legal", "Brand Manager", "Chief Executive", "Founder", "Legal Counsel"]
ASSOCIATE_TITLES = [
    "Partner", "Partner", "Senior Associate", "Trademark Attorney", "Patent Attorney", "Paralegal",
    "Formalities Officer",
]

# Individuals writing from consumer mail (inventors, designers): contacts, never accounts.
INDIVIDUALS = [
    ("Rowan Achterberg", "rowan.achterberg@gmail.com", "Independent inventor"),
    ("Mira Castellanos", "mira.castellanos@outlook.com", "Product designer"),
    ("Piotr Wasilewski", "p.wasilewski@gmx.de", "Inventor"),
    ("Léa Moreau", "lea.moreau.design@yahoo.fr", "Fashion designer"),
    ("Chen Rui", "chenrui.studio@qq.com", "Brand owner"),
]

# The firm's own people who are not partners (they appear in CC; internal, never contacts).
COLLEAGUES = [
    ("Sophie Lang", "sophie.lang"), ("Mark Ellery", "mark.ellery"), ("Rachel Adeyemi", "rachel.adeyemi"),
    ("Business Development", "bd"), ("Renewals Team", "renewals"),
]

MARKS = [
    "AURELIO", "NIMBUS", "VANTA", "KORU", "SOLENNE", "BRIXTON", "PEBBLEDASH", "ZEPHYRA", "OKTAV", "MERIDIA",
    "TALLOW", "QUENCH", "HALO BLUE", "RIVET", "SAFFRONA", "LUMEN X", "NORTHGLOW", "FIZZWELL", "OPALINE", "TRUEFORM",
]

COUNTRIES_FOR_FILING = [
    "China", "Japan", "Brazil", "Mexico", "India", "South Korea", "Turkey", "Canada", "Australia", "Israel",
    "Norway", "Switzerland", "United States", "Nigeria",
]


# --- subjects -----------------------------------------------------------------------------------

CLIENT_SUBJECTS = [
    "EUTM opposition – {mark} – Class {cls}", "Renewal reminder: {mark} ({jur})", "Madrid filing instructions – {mark}",
    "Clearance search results – {mark}", "Watch notice: conflicting application {mark2}", "Invoice query – {ref}",
    "Cease and desist – {mark} lookalike", "UKIPO examination report – {mark}", "Assignment of the {mark} portfolio",
    "Brand protection call – follow-up", "USPTO office action – {mark} (Class {cls})",
    "Customs recordal renewal – {mark}", "Domain name complaint – {mark_l}.example", "Coexistence agreement – draft v{n}",
    "Evidence of use – {mark} revocation action", "Filing strategy for {country}",
]
ASSOCIATE_SUBJECTS = [
    "Your ref {ref} – {country} trade mark application {mark}", "Reporting filing receipt – {mark} ({country})",
    "Instructions: renew {mark} in {country}", "Official action – {mark} – response due {due}", "Debit note {num}",
    "Reciprocity – referrals {year}", "Madrid designation – {country} provisional refusal – {mark}",
    "Opposition filed against {mark} in {country}", "Power of attorney – {mark}",
]
PROSPECT_SUBJECTS = [
    "Introduction – {company}", "Trade mark strategy for the {mark} launch", "Fee proposal – {company}",
    "Enquiry: clearance for a new product name", "Following up on our call", "Catch up at INTA?",
    "Brand portfolio audit – {company}",
]
MEETING_SUBJECTS = [
    "Portfolio review – {company}", "Strategy call – {mark} opposition", "Lunch – {company}",
    "Video call: {country} filing programme", "Renewals planning – {company}", "Pitch meeting – {company}",
    "Catch-up with {company}", "Brand protection workshop – {company}",
]
PREVIEWS = [
    "Please find attached our comments on the draft.", "Thank you for your email, we will revert shortly.",
    "Could we schedule a call this week to discuss?", "We confirm instructions to proceed as proposed.",
    "Attached is the official communication received today.",
]
