"""Name lists for the demo firm (rapport.demo). Synthetic: invented companies and firms on the
reserved `.example` top-level domain, so no demo address can ever belong to a real organisation."""

from __future__ import annotations

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
